#!/usr/bin/env node
// The `webtune` command: src/cli/main.ts run from source (no build step).
import { fileURLToPath } from 'node:url';
import { runTs } from './run_ts.js';

const { main } = await runTs(fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)));
process.exitCode = await main(process.argv.slice(2));
