import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

// Imports only point down the layers of DESIGN §1. This reads every import in src/ (a regex over
// the source is enough: we write plain ESM with explicit relative paths) and names each import
// that points up or sideways where it should not.

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Which of our modules each layer may import. `errors` is src/errors.ts, the shared root. */
const ALLOWED: Record<string, readonly string[]> = {
  // The UI reaches the engine only through the worker client and the API's types.
  ui: ['ui', 'worker/client.ts', 'worker/api.ts', 'errors'],
  worker: ['worker', 'train', 'model', 'eval', 'data', 'formats', 'storage', 'engine', 'errors'],
  // train, model: the GPU layers above kernels; formats and data are below all GPU code.
  train: ['train', 'model', 'kernels', 'engine', 'formats', 'data', 'errors'],
  model: ['model', 'kernels', 'engine', 'formats', 'errors'],
  kernels: ['kernels', 'engine', 'shaders', 'errors'],
  engine: ['engine', 'errors'],
  // Nothing GPU: these run in Node tools and in the worker before any device exists.
  formats: ['formats', 'data', 'storage', 'errors'],
  data: ['formats', 'data', 'storage', 'errors'],
  storage: ['formats', 'data', 'storage', 'errors'],
  // Scoring generated text (issue #6): plain CPU code over strings and parsed examples.
  eval: ['eval', 'data', 'formats', 'errors'],
  cli: ['cli', 'worker', 'train', 'model', 'kernels', 'engine', 'eval', 'formats', 'data', 'storage', 'shaders', 'errors'],
  errors: [],
};

/** Packages that pull in a GPU or Node-only native code, and the layers that may import them. */
const RESTRICTED_PACKAGES: Record<string, readonly string[]> = {
  webgpu: ['engine', 'cli'],
};

/** What the UI may take from worker/api.ts: types only, so no engine code can ride along. */
const TYPE_ONLY = new Set(['worker/api.ts']);

interface Import {
  specifier: string;
  typeOnly: boolean;
}

// `import x from '…'`, `import type …`, `export … from '…'`, bare `import '…'`, `import('…')`,
// and `new URL('…', import.meta.url)` (how the client starts the worker).
const IMPORT_RE =
  /(?:^|[\s;])(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|new\s+URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g;

function importsOf(text: string): Import[] {
  const found: Import[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const specifier = m[3] ?? m[4] ?? m[5];
    found.push({ specifier, typeOnly: Boolean(m[2]) });
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|svelte)$/.test(entry.name) ? [path] : [];
  });
}

/** The layer of a file under root/src/, or `shaders` for the WGSL folder beside it. */
function layerOf(root: string, absPath: string): string {
  const rel = relative(root, absPath).split(sep).join('/');
  if (rel.startsWith('shaders/')) return 'shaders';
  if (rel === 'src/errors.ts') return 'errors';
  if (rel === 'src/main.ts') return 'ui';
  const top = rel.slice('src/'.length).split('/')[0];
  return top;
}

/** The names an import target is known by in ALLOWED: its layer, and its path inside src/. */
function targetNames(root: string, absPath: string): string[] {
  const rel = relative(join(root, 'src'), absPath).split(sep).join('/');
  return [layerOf(root, absPath), rel];
}

/** Every import under root/src/ that breaks the layers, as `file: what is wrong`. */
function violations(root: string): string[] {
  const problems: string[] = [];
  for (const file of sourceFiles(join(root, 'src'))) {
    const from = layerOf(root, file);
    const shown = relative(root, file);
    const allowed = ALLOWED[from];
    if (!allowed) {
      problems.push(`${shown}: src/${from}/ is not a layer of DESIGN §1; add it to ALLOWED in tests/unit/layers.test.ts`);
      continue;
    }
    for (const { specifier, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) {
        const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
        const users = RESTRICTED_PACKAGES[pkg];
        if (users && !users.includes(from)) problems.push(`${shown}: imports '${specifier}', which only ${users.join(', ')} may use`);
        continue;
      }
      const target = resolve(dirname(file), specifier.replace(/\?.*$/, ''));
      const names = targetNames(root, target);
      if (!names.some((n) => allowed.includes(n))) {
        problems.push(`${shown}: imports '${specifier}' (${names[0]}), but ${from} may import only ${allowed.join(', ') || 'nothing of ours'}`);
      } else if (from === 'ui' && TYPE_ONLY.has(names[1]) && !typeOnly) {
        problems.push(`${shown}: imports '${specifier}' without \`import type\`; the UI takes only types from it`);
      }
    }
  }
  return problems;
}

describe('layers (DESIGN §1)', () => {
  test('every import in src/ points down', () => {
    const problems = violations(repo);
    expect(problems, `imports that break the layers:\n  ${problems.join('\n  ')}\n`).toEqual([]);
  });

  test('an import that points up is reported with its file and specifier', () => {
    const root = mkdtempSync(join(tmpdir(), 'webtune-layers-'));
    const files: Record<string, string> = {
      'src/errors.ts': 'export class WebtuneError extends Error {}',
      'src/engine/device.ts': "import { x } from '../model/llama.ts';",
      'src/model/llama.ts': "import { k } from '../kernels/matmul.ts';\nexport const x = k;",
      'src/kernels/matmul.ts': "import src from '../../shaders/matmul.wgsl?raw';\nexport const k = src;",
      'src/formats/safetensors.ts': "import { Runtime } from '../engine/runtime.ts';",
      'src/data/jsonl.ts': "import { create } from 'webgpu';",
      'src/ui/App.svelte': "<script lang=\"ts\">\n  import { Engine } from '../worker/engine.ts';\n</script>",
      'src/ui/state.svelte.ts': "import { GpuProbe } from '../worker/api.ts';\nimport { errors } from '../errors.ts';",
      'src/worker/client.ts': "new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });",
      'src/worker/engine.worker.ts': "import { Engine } from './engine.ts';",
      'src/worker/engine.ts': "import type { Probe } from '../ui/types.ts';",
      'src/ui/types.ts': '',
      'src/plugins/extra.ts': '',
    };
    try {
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      }
      const problems = violations(root).map((p) => p.replace(root + sep, ''));
      expect(problems.sort()).toEqual([
        "src/data/jsonl.ts: imports 'webgpu', which only engine, cli may use",
        "src/engine/device.ts: imports '../model/llama.ts' (model), but engine may import only engine, errors",
        "src/formats/safetensors.ts: imports '../engine/runtime.ts' (engine), but formats may import only formats, data, storage, errors",
        'src/plugins/extra.ts: src/plugins/ is not a layer of DESIGN §1; add it to ALLOWED in tests/unit/layers.test.ts',
        "src/ui/App.svelte: imports '../worker/engine.ts' (worker), but ui may import only ui, worker/client.ts, worker/api.ts, errors",
        "src/ui/state.svelte.ts: imports '../worker/api.ts' without `import type`; the UI takes only types from it",
        "src/worker/engine.ts: imports '../ui/types.ts' (ui), but worker may import only worker, train, model, eval, data, formats, storage, engine, errors",
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('the import reader sees every form we use', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      "export { c } from './c.ts';",
      "export type { D } from './d.ts';",
      "import './side_effect.css';",
      "import {\n  e,\n  f,\n} from './multi.ts';",
      "const m = await import('./lazy.ts');",
      "new Worker(new URL('./w.ts', import.meta.url), { type: 'module' });",
      "import wgsl from '../../shaders/x.wgsl?raw';",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      { specifier: './a.ts', typeOnly: false },
      { specifier: '../b/b.ts', typeOnly: true },
      { specifier: './c.ts', typeOnly: false },
      { specifier: './d.ts', typeOnly: true },
      { specifier: './side_effect.css', typeOnly: false },
      { specifier: './multi.ts', typeOnly: false },
      { specifier: './lazy.ts', typeOnly: false },
      { specifier: './w.ts', typeOnly: false },
      { specifier: '../../shaders/x.wgsl?raw', typeOnly: false },
    ]);
  });
});
