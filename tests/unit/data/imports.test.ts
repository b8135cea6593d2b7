import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The browser bundle imports src/data: nothing in it may pull in node:* (except the one Node-only
// file, which index.ts does not export) or anything that touches the GPU (DESIGN.md §1).

const dir = join(import.meta.dirname, '../../../src/data');
const nodeOnly = new Set(['node_stream_source.ts']);

function imports(file: string): string[] {
  const text = readFileSync(join(dir, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

describe('src/data imports', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

  it('use no node:* module outside the Node-only source', () => {
    for (const f of files) if (!nodeOnly.has(f)) expect(imports(f).filter((i) => i.startsWith('node:')), f).toEqual([]);
  });

  it('reach nothing GPU and only the shared errors module above src/data', () => {
    for (const f of files) {
      for (const i of imports(f)) {
        if (i.startsWith('./') || i.startsWith('node:')) continue;
        expect(['../errors.ts', '@huggingface/tokenizers', '@huggingface/jinja'], `${f} imports ${i}`).toContain(i);
      }
    }
  });

  it('keep the Node-only source out of the public index', () => {
    expect(imports('index.ts')).not.toContain('./node_stream_source.ts');
  });
});
