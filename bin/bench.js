#!/usr/bin/env node
// `npm run bench [name…]`: runs the benchmark scripts in tests/bench (not tests; they print figures).
import { fileURLToPath } from 'node:url';
import { runTs } from './run_ts.js';

const { main } = await runTs(fileURLToPath(new URL('../tests/bench/main.ts', import.meta.url)));
process.exitCode = await main(process.argv.slice(2));
