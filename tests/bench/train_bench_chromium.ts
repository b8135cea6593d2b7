import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { launchChromium, watchPageErrors } from '../helpers/chromium.ts';
import { OPTIONAL_FEATURES } from '../../src/engine/device.ts';
import type { PageOutcome } from './train_bench_page.ts';
import type { TrainStepOptions, TrainStepResult } from './train_step.ts';

// `npm run bench -- train --chromium [--model DIR]`: the training-step bench in headless Chromium,
// so that a machine with a real GPU measures the browser's WebGPU. Builds train_bench.html with
// Vite into a temp folder, serves it and the model folder on 127.0.0.1 (a secure origin; the
// model's files under /model/ with HTTP Range, so a multi-GB checkpoint is read tensor by tensor),
// launches Chromium with WebGPU (tests/helpers/chromium.ts) and waits for the page's result.

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the page fetches under /model/: in-memory files (the generated model) or a folder on disk. */
type ServedModel = { name: string; files: Map<string, Uint8Array> } | string;

interface ServedFile {
  size: number;
  /** Bytes [start, end] inclusive. */
  stream(res: ServerResponse, start: number, end: number): void;
}

async function modelFiles(model: ServedModel): Promise<{ name: string; files: Map<string, ServedFile> }> {
  const files = new Map<string, ServedFile>();
  if (typeof model !== 'string') {
    for (const [path, bytes] of model.files) files.set(path, { size: bytes.byteLength, stream: (res, s, e) => res.end(bytes.subarray(s, e + 1)) });
    return { name: model.name, files };
  }
  const dir = resolve(model);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(dir, entry.name);
    files.set(entry.name, { size: (await stat(path)).size, stream: (res, s, e) => void createReadStream(path, { start: s, end: e }).pipe(res) });
  }
  return { name: basename(dir), files };
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };

function serve(staticDir: string, model: { name: string; files: Map<string, ServedFile> }) {
  const index = JSON.stringify({ name: model.name, files: [...model.files].map(([path, f]) => ({ path, size: f.size })) });
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    if (path === '/model/index.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(index);
    if (path.startsWith('/model/')) {
      const file = model.files.get(path.slice('/model/'.length));
      if (!file) return void res.writeHead(404).end();
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      const [start, end] = m ? [Number(m[1]), Math.min(Number(m[2]), file.size - 1)] : [0, file.size - 1];
      res.writeHead(m ? 206 : 200, { 'content-type': 'application/octet-stream', 'content-length': end - start + 1, ...(m ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {}) });
      return file.stream(res, start, end);
    }
    const local = normalize(join(staticDir, path));
    if (!local.startsWith(staticDir + sep)) return void res.writeHead(403).end();
    try {
      const body = await readFile(local);
      res.writeHead(200, { 'content-type': TYPES[extname(local)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  };
}

export async function runInChromium(options: TrainStepOptions, model: ServedModel): Promise<TrainStepResult> {
  const outDir = await mkdtemp(join(tmpdir(), 'webtune-bench-'));
  const server = createServer();
  const browser = await launchChromium();
  try {
    await build({ root, logLevel: 'warn', build: { outDir, emptyOutDir: true, rollupOptions: { input: join(root, 'tests/bench/train_bench.html') } } });
    server.on('request', serve(outDir, await modelFiles(model)));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const page = await browser.newPage();
    const errors = watchPageErrors(page);
    page.on('console', (msg) => {
      if (msg.text().startsWith('train bench failed')) console.error(msg.text());
    });
    await page.goto(`http://127.0.0.1:${port}/tests/bench/train_bench.html?options=${encodeURIComponent(JSON.stringify(options))}`);
    await page.waitForFunction(() => window.__trainBench !== undefined, null, { timeout: 0, polling: 1000 });
    const outcome = (await page.evaluate(() => window.__trainBench)) as PageOutcome;
    if (!outcome.ok) throw new Error(`the bench page failed: ${outcome.error}${errors.length ? `\n${errors.join('\n')}` : ''}`);
    const a = outcome.adapter;
    console.log(`adapter (Chromium): ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')}${a.isFallbackAdapter ? ' (fallback)' : ''}; features: ${a.features.filter((f) => (OPTIONAL_FEATURES as readonly string[]).includes(f)).join(', ') || 'none of ' + OPTIONAL_FEATURES.join(', ')}`);
    console.log('(no peak probe in the page, and no cpu time: the GPU process is not this one)');
    return outcome.result;
  } finally {
    await browser.close();
    server.close();
    await rm(outDir, { recursive: true, force: true });
  }
}
