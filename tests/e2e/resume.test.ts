import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { launchChromium } from '../helpers/chromium.ts';
import { dropFile, fillSettings, loadDemoModel, openApp } from './page_helpers.ts';

// Pausing, and resuming after a reload, in the built app in headless Chromium (SwiftShader WebGPU),
// with the checkpoints in the browser's real IndexedDB: a few steps of the demo model on a tiny
// dropped dataset with a checkpoint every step; paused (the step count and the clock stand still)
// and resumed;
// then the page is reloaded mid-run, the interrupted-run notice offers to resume, the demo model
// loads by itself, the run goes on from the step after its checkpoint with its earlier chart points
// kept, and reaches the end. Saved runs then show what the run stores and the site's usage and quota,
// and the merged model, exported once as a .zip, downloads again from the saved run.

const url = inject('webtuneUrl');
const shots = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));
mkdirSync(shots, { recursive: true });

const STEPS = 12;
const DATASET = Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q: ${i} + 1?\nA:`, completion: ` ${i + 1}.` })).join('\n') + '\n';

async function shot(page: Page, name: string, testid: string): Promise<void> {
  await page.getByTestId(testid).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, `resume-${name}.png`) });
}

/** Steps done, as the Train screen's progress bar says. */
async function stepsDone(page: Page): Promise<number> {
  return Number(await page.getByTestId('train-progress').getByRole('progressbar').getAttribute('data-done'));
}

async function attr(page: Page, testid: string, name: string): Promise<string | null> {
  return page.getByTestId(testid).first().getAttribute(name);
}

describe('pause, reload, resume', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a paused run stands still and goes on; after a reload it resumes from its checkpoint and finishes', async (ctx) => {
    const opened = await openApp(browser, url, ctx, 'the resume test');
    if (!opened) return;
    const { context, page, errors } = opened;
    const status = () => attr(page, 'train-screen', 'data-status');

    await loadDemoModel(page);
    await dropFile(page, 'plus-one.jsonl', DATASET);
    await page.getByTestId('dataset-stats').waitFor({ timeout: 60_000 });
    await page.getByTestId('preset-quick-demo').click();
    await page.getByText('Advanced', { exact: true }).click();
    await fillSettings(page, { 'Max steps': String(STEPS), 'Batch size': '2', 'Max length': '32', 'LoRA rank': '4', 'Checkpoint every': '1' });

    // Train two steps, then pause from the keyboard.
    await page.getByTestId('start-training').click();
    await expect.poll(() => stepsDone(page), { timeout: 180_000 }).toBeGreaterThanOrEqual(2);
    await page.getByTestId('pause-training').focus();
    await page.keyboard.press('Enter');
    await expect.poll(status, { timeout: 60_000 }).toBe('paused');
    const pausedAt = await stepsDone(page);
    expect(pausedAt).toBeLessThan(STEPS);
    expect(await page.getByTestId('train-status').innerText()).toBe(`Paused after step ${pausedAt} — checkpoint saved; resume to continue.`);
    expect(await page.title()).toBe(`Paused · step ${pausedAt}/${STEPS} · webtune`);
    // The Resume button took the Pause button's place, focus and all.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('resume-training');
    await shot(page, '1-paused', 'train-screen');
    const elapsed = await page.getByTestId('train-elapsed').innerText();
    await page.waitForTimeout(2500);
    expect(await stepsDone(page)).toBe(pausedAt);
    expect(await page.getByTestId('train-elapsed').innerText()).toBe(elapsed);

    // A second tab sees the paused run as training (its Web Lock is held), not interrupted: nothing to resume there.
    const second = await context.newPage();
    await second.goto(url);
    const elsewhere = second.getByTestId('run-row').first();
    await elsewhere.waitFor({ timeout: 60_000 });
    expect(await elsewhere.getAttribute('data-status')).toBe('running');
    expect(await elsewhere.getByTestId('resume-run').count()).toBe(0);
    expect(await second.getByTestId('interrupted-banner').count()).toBe(0);
    await second.close();
    await page.bringToFront();

    // Resume: it goes on. Two more steps, so the checkpoint after the first of them is written.
    await page.keyboard.press('Enter');
    await expect.poll(() => stepsDone(page), { timeout: 120_000 }).toBeGreaterThan(pausedAt + 1);
    expect(await status()).toBe('running');

    // Reload mid-run. Leaving asks first (the page had a click, so Chromium shows the dialog).
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.type());
      void d.accept();
    });
    expect(await stepsDone(page)).toBeLessThan(STEPS);
    await page.reload();
    expect(dialogs).toEqual(['beforeunload']);

    // The interrupted-run notice, near the top.
    const banner = page.getByTestId('interrupted-banner');
    await banner.waitFor({ timeout: 60_000 });
    const heading = await banner.getByRole('heading').innerText();
    const [, atStep, of] = /^A run was interrupted at step (\d+) of (\d+) \(plus-one\.jsonl on webtune-demo-untrained\)\.$/.exec(heading) ?? [];
    expect(Number(of)).toBe(STEPS);
    expect(Number(atStep)).toBeGreaterThan(pausedAt);
    const checkpoint = Number(await banner.getAttribute('data-checkpoint'));
    // Checkpointed every step: at least the step after the pause (a write the reload cut short leaves the one before).
    expect(checkpoint).toBeGreaterThan(pausedAt);
    expect(checkpoint).toBeLessThanOrEqual(Number(atStep));
    await page.screenshot({ path: join(shots, 'resume-2-banner.png') });
    // Saved runs offers the same: the row says where its checkpoint is and has a Resume button.
    const interrupted = page.getByTestId('run-row').first();
    expect(await interrupted.getAttribute('data-status')).toBe('interrupted');
    expect(await interrupted.getByTestId('run-checkpoint').innerText()).toBe(`checkpoint at step ${checkpoint} of ${STEPS}`);
    expect(await interrupted.getByTestId('resume-run').isEnabled()).toBe(true);
    await shot(page, '2-runs-interrupted', 'runs-screen');
    expect(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
    // In the large-text mode too (for a projector).
    await page.getByTestId('text-size-toggle').click();
    await shot(page, '2-runs-interrupted-large', 'runs-screen');
    expect(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
    await page.getByTestId('text-size-toggle').click();

    // Resume it: the demo model loads by itself and the run continues after its checkpoint.
    await banner.getByRole('button', { name: 'Resume it' }).click();
    await page.getByTestId('model-card').waitFor({ timeout: 90_000 });
    await expect.poll(() => attr(page, 'train-screen', 'data-first-step'), { timeout: 180_000 }).not.toBeNull();
    expect(Number(await attr(page, 'train-screen', 'data-resumed-from'))).toBe(checkpoint);
    expect(Number(await attr(page, 'train-screen', 'data-first-step'))).toBe(checkpoint + 1);
    // The loss chart kept the points before the checkpoint.
    expect(Number(await attr(page, 'chart-loss', 'data-points'))).toBeGreaterThan(checkpoint);
    await shot(page, '3-resumed', 'train-screen');
    await expect.poll(status, { timeout: 240_000 }).toBe('done');
    expect(await page.getByTestId('train-status').innerText()).toBe('Finished.');
    expect(await stepsDone(page)).toBe(STEPS);
    // Every step once: the saved ones before the checkpoint, the new ones after.
    expect(Number(await attr(page, 'chart-loss', 'data-points'))).toBe(STEPS);
    expect(await page.getByTestId('interrupted-banner').count()).toBe(0);

    // The resumed run's adapter merged into the model as a .zip: a copy is kept with the saved run.
    const zipReady = page.waitForEvent('download', { timeout: 240_000 });
    await page.getByTestId('merge-download').click();
    const zip = await zipReady;
    await page.getByTestId('merge-done').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('merge-done').getAttribute('data-kept')).toBe('true');

    // Saved runs: the run is complete, with what it stores and the site's usage and quota.
    const row = page.getByTestId('run-row').first();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 30_000 }).toBe('completed');
    await row.getByTestId('download-merged').waitFor({ timeout: 30_000 });
    expect(Number(await row.getByTestId('run-stored').getAttribute('data-bytes'))).toBeGreaterThan(0);
    await row.getByTestId('run-stored').locator('summary').click();
    expect(await row.getByTestId('run-stored').innerText()).toMatch(/Dataset copy\s+[\d.]+ (bytes|KiB)/);
    expect(await row.getByTestId('run-stored').innerText()).toMatch(/Merged model\s+[\d.]+ (KiB|MiB)/);
    const [again] = await Promise.all([page.waitForEvent('download'), row.getByTestId('download-merged').click()]);
    expect(again.suggestedFilename()).toBe(zip.suggestedFilename());
    expect(readFileSync(await again.path()).equals(readFileSync(await zip.path()))).toBe(true);
    const summary = page.getByTestId('storage-summary');
    expect(Number(await summary.getAttribute('data-usage'))).toBeGreaterThan(0);
    expect(Number(await summary.getAttribute('data-quota'))).toBeGreaterThan(0);
    expect(await summary.innerText()).toMatch(/^webtune's saved runs: [\d.]+ \w+ · this site uses [\d.]+ \w+ of [\d.]+ \w+ allowed/);
    await shot(page, '4-runs', 'runs-screen');
    expect(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);

    expect(errors).toEqual([]);
    await context.close();
    // Two kernel compilations (before and after the reload) make most of its few minutes on SwiftShader.
  }, 600_000);
});
