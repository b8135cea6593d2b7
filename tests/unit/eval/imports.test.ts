import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// src/eval runs in the browser worker as well as the CLI: no node:* module and no package at all
// (the metrics are our own code); the layer rules (tests/unit/layers.test.ts) bound which of our
// modules it may use.

const dir = join(import.meta.dirname, '../../../src/eval');

describe('src/eval imports', () => {
  it('are all relative: no node:* module, no npm package', () => {
    for (const f of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
      expect(specifiers.filter((s) => !s.startsWith('./') && !s.startsWith('../')), f).toEqual([]);
    }
  });
});
