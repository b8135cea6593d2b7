// Runs a TypeScript entry point of ours under Node: tsx for TypeScript, raw_loader for `?raw` imports.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';

export async function runTs(entry) {
  register('./raw_loader.js', import.meta.url);
  registerTsx();
  return import(pathToFileURL(entry).href);
}
