import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import type { TestProject } from 'vitest/node';

// Builds the app once for all e2e files (as `npm run build` would, into a temporary folder so
// dist/ is left alone) and serves it with Vite's preview server on 127.0.0.1, a secure origin, on
// a free port. The tests read the address with `inject('webtuneUrl')`.

declare module 'vitest' {
  export interface ProvidedContext {
    webtuneUrl: string;
  }
}

/** A host name that is not localhost, so a page served under it is not a secure origin. */
export const INSECURE_HOST = 'webtune.test';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outDir = await mkdtemp(join(tmpdir(), 'webtune-e2e-'));
  await build({ root, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const server = await preview({
    root,
    logLevel: 'warn',
    build: { outDir },
    // webtune.test is how adapter.test.ts reaches this server from an insecure origin (Chromium maps
    // it to 127.0.0.1); Vite refuses Host names it was not told about.
    preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false, allowedHosts: [INSECURE_HOST] },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('the Vite preview server did not report its address');
  project.provide('webtuneUrl', url);
  return async () => {
    await server.close();
    await rm(outDir, { recursive: true, force: true });
  };
}
