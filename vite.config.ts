import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// One config for the app (Vite) and the three test suites (Vitest projects):
//   unit — Node, no GPU; gpu — Node on Dawn (webgpu package), one process at a time;
//   e2e  — the built app in headless Chromium through Playwright.
export default defineConfig({
  plugins: [svelte()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  worker: { format: 'es' },
  build: { target: 'es2022' },
  test: {
    projects: [
      {
        extends: true,
        // Generous timeout: on two shared cores a tokenizer load or a 10k-example stream can take
        // seconds; tests assert results, never durations.
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node', testTimeout: 60_000 },
      },
      {
        extends: true,
        test: {
          name: 'gpu',
          include: ['tests/kernels/**/*.test.ts', 'tests/model/**/*.test.ts', 'tests/gpu/**/*.test.ts'],
          environment: 'node',
          // Dawn is a native addon: run GPU files in child processes, one at a time (SwiftShader
          // already uses both cores).
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          // Builds the app once and serves it on 127.0.0.1 for every e2e file.
          globalSetup: ['tests/e2e/global_setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
