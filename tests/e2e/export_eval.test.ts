import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { memorySource } from '../../src/formats/byte_source.ts';
import { openSafetensors } from '../../src/formats/safetensors.ts';
import { readZip } from '../../src/formats/zip.ts';
import { DEMO_CONFIG } from '../../src/model/demo_model.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { dropFile, fillSettings, loadDemoModel, openApp, trainToTheEnd } from './page_helpers.ts';

// The evaluation table (issue #5) and the merged-model export (issue #7) in the built app: a run
// on the demo model trained to its end, its held-out examples scored for base and tuned (rows,
// summary, the CSV downloaded), then the merged model downloaded as a .zip and checked as a Hugging
// Face folder, and written into a folder.
//
// The folder: headless Chromium cannot answer showDirectoryPicker()'s dialog, so the page's picker
// is replaced by one that returns a folder of the Origin Private File System. The engine writes
// through the same FileSystemDirectoryHandle API either way; only the native dialog is untested.

const url = inject('webtuneUrl');
const shots = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));
mkdirSync(shots, { recursive: true });

/** 16 one-line examples: with an eval split of 0.25, four are held out. */
const DATASET = Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `What is ${i} plus ${i}?`, completion: ` It is ${2 * i}.` })).join('\n') + '\n';

/** The demo model's tensors, as its folder names them (model/demo_model.ts). */
const DEMO_TENSORS = [
  'model.embed_tokens.weight',
  'model.norm.weight',
  ...Array.from({ length: DEMO_CONFIG.num_hidden_layers }, (_, i) =>
    ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj', 'input_layernorm', 'post_attention_layernorm'].map(
      (m) => `model.layers.${i}.${m}.weight`,
    ),
  ).flat(),
].sort();

/**
 * Waits until `testid`'s data-status is done (and `doneSelector` inside it matches, when given) or
 * failed; failed throws with the error the page shows.
 */
async function settled(page: Page, testid: string, errorTestid: string, doneSelector = ''): Promise<void> {
  const section = page.getByTestId(testid);
  const done = `[data-testid="${testid}"][data-status="done"] ${doneSelector}`.trim();
  await page.locator(`${done}, [data-testid="${testid}"][data-status="failed"]`).first().waitFor({ timeout: 240_000 });
  if ((await section.getAttribute('data-status')) === 'failed') throw new Error(`${testid} failed: ${await page.getByTestId(errorTestid).innerText()}`);
}

async function shot(page: Page, name: string, testid: string): Promise<void> {
  await page.getByTestId(testid).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, `export_eval-${name}.png`) });
}

/** Records in a CSV file (RFC 4180: a quoted field may hold newlines). */
function csvRecords(text: string): number {
  let records = 0;
  let quoted = false;
  let empty = true;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === '\n' && !quoted) {
      if (!empty) records++;
      empty = true;
    } else if (ch !== '\r') empty = false;
  }
  return records + (empty ? 0 : 1);
}

/** What is in the OPFS folder the stubbed picker handed out: file names, and the safetensors header's tensor names. */
async function pickedFolder(page: Page): Promise<{ files: string[]; tensors: string[] }> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('picked-for-test');
    const files: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) files.push(name);
    const file = await (await dir.getFileHandle('model.safetensors')).getFile();
    const n = Number(new DataView(await file.slice(0, 8).arrayBuffer()).getBigUint64(0, true));
    const header = JSON.parse(await file.slice(8, 8 + n).text()) as Record<string, unknown>;
    return { files: files.sort(), tensors: Object.keys(header).filter((k) => k !== '__metadata__') };
  });
}

describe('evaluation table and merged export', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('train to the end → score the eval split → CSV → merged model as a .zip and into a folder', async (ctx) => {
    // Whether this browser has the picker at all (reported), then a stand-in that returns an OPFS folder.
    const app = await openApp(browser, url, ctx, 'the export/eval test', () => {
      const w = window as unknown as { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle>; nativePicker: string };
      w.nativePicker = typeof w.showDirectoryPicker;
      w.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('picked-for-test', { create: true });
    });
    if (!app) return;
    const { page, context, errors } = app;
    const nativePicker = await page.evaluate(() => (window as unknown as { nativePicker: string }).nativePicker);
    console.info(`export_eval: window.showDirectoryPicker is a ${nativePicker} in headless Chromium; the test stands in an OPFS folder for its dialog`);

    await loadDemoModel(page);
    await dropFile(page, 'sums.jsonl', DATASET);
    await page.locator('[data-testid="dataset-stats"][data-examples="16"]').waitFor({ timeout: 60_000 });
    await fillSettings(page, { 'Max steps': '4', 'Batch size': '2', 'Max length': '32', 'LoRA rank': '4', 'Eval split': '0.25', 'Eval every': '4' });

    // Nothing to score or merge before a run.
    expect(await page.getByTestId('eval-run').isDisabled()).toBe(true);
    expect(await page.getByTestId('eval-blocked').innerText()).toMatch(/^Train a run first/);
    expect(await page.getByTestId('merge-download').isDisabled()).toBe(true);
    expect(await page.getByTestId('merge-blocked').isVisible()).toBe(true);
    await shot(page, '0-blocked', 'eval-section');

    await trainToTheEnd(page);

    // The evaluation table: rows as they are scored, then the summary for both systems.
    await page.getByTestId('eval-limit').fill('3');
    await page.getByTestId('eval-max-new').fill('4');
    await page.getByTestId('eval-run').click();
    await settled(page, 'eval-section', 'eval-error');
    const rows = await page.getByTestId('eval-row').count();
    expect(rows).toBeGreaterThanOrEqual(1);
    expect(rows).toBeLessThanOrEqual(3);
    expect(await page.getByTestId('eval-rows').getAttribute('data-rows')).toBe(String(rows));
    for (const metric of ['rouge1', 'rouge2', 'rougeL', 'bleu', 'exactMatch']) {
      const tr = page.getByTestId(`eval-summary-${metric}`);
      for (const side of ['data-base', 'data-tuned']) {
        const value = await tr.getAttribute(side);
        expect(value, `${metric} ${side}`).toMatch(/^-?\d/);
        expect(Number.isFinite(Number(value))).toBe(true);
      }
    }
    expect(await page.getByTestId('eval-source').innerText()).not.toBe('');
    // A row opens to its full text from the keyboard.
    const toggle = page.getByTestId('eval-row').first().getByRole('button');
    await toggle.focus();
    await page.keyboard.press('Enter');
    expect(await toggle.getAttribute('aria-expanded')).toBe('true');
    await shot(page, '1-eval', 'eval-section');
    const overflows = () => page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    expect(await overflows()).toBe(false);
    // Large text: the wide table scrolls inside its own box, never the page.
    await page.getByTestId('text-size-toggle').click();
    await expect.poll(() => page.getByTestId('text-size-toggle').getAttribute('aria-pressed')).toBe('true');
    expect(await overflows()).toBe(false);
    await shot(page, '1-eval-large-text', 'eval-rows');
    await page.getByTestId('text-size-toggle').click();

    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('eval-csv').click()]);
    expect(csv.suggestedFilename()).toMatch(/\.csv$/);
    const csvText = readFileSync(await csv.path(), 'utf8');
    expect(csvRecords(csvText)).toBe(1 + rows);
    expect(csvText.split('\n')[0]).toMatch(/prompt/i);
    expect(csvText).toContain(await page.getByTestId('eval-row').first().locator('td').first().innerText());
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('eval-json').click()]);
    expect(JSON.parse(readFileSync(await json.path(), 'utf8')).rows).toHaveLength(rows);

    // The merged model as a .zip: a Hugging Face folder with the demo model's tensors.
    await page.getByTestId('merge-shard').fill('2');
    const zipReady = page.waitForEvent('download', { timeout: 240_000 });
    void zipReady.catch(() => undefined);
    await page.getByTestId('merge-download').click();
    await settled(page, 'merged-export', 'merge-error');
    const zipDownload = await zipReady;
    const zip = readZip(new Uint8Array(readFileSync(await zipDownload.path())), 'merged.zip');
    const entries = [...zip.keys()].map((k) => k.replace(/^[^/]*\//, ''));
    expect(entries).toContain('config.json');
    expect(entries).toContain('tokenizer.json');
    expect(entries).toContain('model.safetensors');
    const weightsName = [...zip.keys()].find((k) => k.endsWith('model.safetensors'))!;
    const weights = await openSafetensors(memorySource(zip.get(weightsName)!, 'model.safetensors'));
    expect([...weights.names()].sort()).toEqual(DEMO_TENSORS);
    const configName = [...zip.keys()].find((k) => k.endsWith('config.json') && !k.endsWith('tokenizer_config.json'))!;
    expect(JSON.parse(new TextDecoder().decode(zip.get(configName)))).toMatchObject({ architectures: ['LlamaForCausalLM'], hidden_size: 64 });
    const done = page.getByTestId('merge-done');
    await done.waitFor();
    expect(await done.innerText()).toMatch(/\d+ files?/);
    if ((await done.getAttribute('data-kept')) === 'false') expect(await page.getByTestId('merge-kept-note').innerText()).not.toBe('No copy is kept under Saved runs.');
    await shot(page, '2-merged-zip', 'merged-export');

    // Into a folder (the OPFS stand-in for the picker), this time into the NF4 weights.
    await page.getByTestId('merge-nf4').check();
    await page.getByTestId('merge-folder').click();
    await settled(page, 'merged-export', 'merge-error', '[data-source="nf4-of-full-precision"]');
    const folder = await pickedFolder(page);
    expect(folder.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    expect(folder.tensors.sort()).toEqual(DEMO_TENSORS);
    await shot(page, '3-merged-folder', 'merged-export');

    expect(errors).toEqual([]);
    await context.close();
  }, 600_000);
});
