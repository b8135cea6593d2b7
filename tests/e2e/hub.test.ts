import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { tinyModel } from '../fixtures/tiny_model.ts';
import { launchChromium, watchPageErrors } from '../helpers/chromium.ts';
import { startHubServer, type HubServer } from './hub_server.ts';

// A model from "the Hub" — a local server answering the Hub's URLs (hub_server.ts) — as a user
// gets it: the download size shown first, the download, the model card; then, after a reload, the
// same model loaded from this browser's private storage (OPFS) without fetching its weights again.

const url = inject('webtuneUrl');
const requireWebGpu = process.env.REQUIRE_WEBGPU === '1';
const shots = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));
mkdirSync(shots, { recursive: true });

const REPO = 'test-org/tiny-llama';
// Sharded (an index and two files), with the real 32k tokenizer.
const model = tinyModel({ tokenizer: true, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: true, maxShardSize: 4 * 2 ** 20 });

async function openAt(page: Page, hub: HubServer, first: boolean): Promise<boolean> {
  await page.goto(url);
  const form = page.getByTestId('hub-form');
  await form.or(page.getByTestId('no-webgpu')).waitFor({ timeout: 60_000 });
  if (!(await form.isVisible())) return false;
  if (first) {
    await page.getByTestId('hub-form').locator('summary').click();
    await page.getByTestId('hub-base').fill(hub.url);
    await page.getByTestId('hub-base').press('Tab');
  }
  expect(await page.getByTestId('hub-base').inputValue()).toBe(hub.url);
  await page.getByTestId('hub-repo').fill(REPO);
  await page.getByTestId('hub-check').click();
  await page.getByTestId('hub-plan').waitFor({ timeout: 30_000 });
  return true;
}

describe('a model from the Hub', () => {
  let browser: Browser;
  let hub: HubServer;
  beforeAll(async () => {
    browser = await launchChromium();
    hub = await startHubServer({ [REPO]: model.files });
  });
  afterAll(async () => {
    await browser?.close();
    await hub?.close();
  });

  test('shows the size, downloads with progress, and loads from the cache on the next visit', async (ctx) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    const errors = watchPageErrors(page);
    if (!(await openAt(page, hub, true))) {
      if (requireWebGpu) throw new Error('REQUIRE_WEBGPU=1 but the app found no WebGPU adapter');
      ctx.skip();
    }
    const total = [...model.files.values()].reduce((n, b) => n + b.byteLength, 0);
    const plan = page.getByTestId('hub-plan');
    expect(Number(await plan.getAttribute('data-total'))).toBe(total);
    // Only the shard index is there yet: planning reads it (to know the shards) and keeps it.
    expect(Number(await plan.getAttribute('data-cached'))).toBe(model.files.get('model.safetensors.index.json')!.byteLength);
    expect(await plan.innerText()).toMatch(/^6 files, [\d.]+ MiB in all, /);
    await page.getByTestId('model-screen').screenshot({ path: join(shots, 'hub-1-plan.png') });

    await page.getByTestId('hub-download').click();
    const card = page.getByTestId('model-card');
    await card.waitFor({ timeout: 90_000 });
    expect(await card.getAttribute('data-name')).toBe(REPO);
    expect(await page.getByTestId('model-layers').innerText()).toMatch(/2 × hidden 64/);
    const weights = [...model.files.keys()].filter((f) => f.endsWith('.safetensors'));
    expect(weights).toHaveLength(2);
    for (const f of [...weights, 'model.safetensors.index.json', 'tokenizer.json']) expect(hub.gets.get(f), f).toBe(1);
    await page.getByTestId('model-screen').screenshot({ path: join(shots, 'hub-2-loaded.png') });

    // Next visit: the Hub address is remembered, everything is cached, nothing is fetched again.
    expect(await openAt(page, hub, false)).toBe(true);
    expect(Number(await plan.getAttribute('data-cached'))).toBe(total);
    expect(await page.getByTestId('hub-download').innerText()).toBe('Load from this browser');
    await page.getByTestId('hub-download').click();
    await card.waitFor({ timeout: 90_000 });
    for (const f of [...weights, 'model.safetensors.index.json', 'tokenizer.json']) expect(hub.gets.get(f), f).toBe(1);

    // An unknown repository is named in the error.
    await page.getByTestId('hub-repo').fill('test-org/missing');
    await page.getByTestId('hub-check').click();
    const error = page.getByTestId('hub-error');
    await error.waitFor();
    expect(await error.innerText()).toContain('not found (HTTP 404)');
    await page.getByTestId('model-screen').screenshot({ path: join(shots, 'hub-3-error.png') });
    expect(errors).toEqual([]);
    await context.close();
  });
});
