import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect, type TestContext } from 'vitest';
import { watchPageErrors } from '../helpers/chromium.ts';

// Steps several e2e files take through the built app: open it (skipping without WebGPU unless
// REQUIRE_WEBGPU=1), load the demo model, drop a dataset, tiny settings, train to the end.
// (workflow.test.ts has its own copies of the first few, with screenshots between them.)

export interface OpenedApp {
  context: BrowserContext;
  page: Page;
  /** Page and worker errors seen so far (tests insist on none at the end). */
  errors: string[];
}

/**
 * A fresh context at 1280×720 with downloads, the app loaded and its GPU probe answered; null after
 * ctx.skip(). `init` runs in the page before the app's own scripts.
 */
export async function openApp(browser: Browser, url: string, ctx: TestContext, name: string, init?: () => void): Promise<OpenedApp | null> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const errors = watchPageErrors(page);
  await page.goto(url);
  const panel = page.getByTestId('adapter-panel');
  await panel.or(page.getByTestId('no-webgpu')).waitFor({ timeout: 60_000 });
  if (!(await panel.isVisible())) {
    await context.close();
    if (process.env.REQUIRE_WEBGPU === '1') throw new Error('REQUIRE_WEBGPU=1 but the app found no WebGPU adapter');
    console.warn(`\n*** SKIPPING ${name}: no WebGPU adapter in headless Chromium\n`);
    ctx.skip();
    return null;
  }
  return { context, page, errors };
}

/** The demo model button, pressed from the keyboard. */
export async function loadDemoModel(page: Page): Promise<void> {
  await page.getByTestId('load-demo').focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('model-card').waitFor({ timeout: 90_000 });
}

/**
 * Drops a file on the page the way a browser does: dragenter, dragover, drop, with a DataTransfer
 * holding a File. `whileOver` runs while the drop overlay shows (a screenshot of it).
 */
export async function dropFile(page: Page, name: string, text: string, whileOver?: () => Promise<void>): Promise<void> {
  const transfer = await page.evaluateHandle(
    ({ name, text }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'application/jsonl' }));
      return dt;
    },
    { name, text },
  );
  for (const type of ['dragenter', 'dragover']) await page.dispatchEvent('main', type, { dataTransfer: transfer });
  await page.getByTestId('drop-overlay').waitFor();
  await whileOver?.();
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
  await transfer.dispose();
}

/** Fills settings by their labels, then waits until none has a problem. */
export async function fillSettings(page: Page, values: Record<string, string>): Promise<void> {
  for (const [label, value] of Object.entries(values)) await page.getByLabel(label, { exact: true }).fill(value);
  await expect.poll(() => page.getByTestId('settings-problems').count()).toBe(0);
}

/** Starts training and waits for the run to end by itself. */
export async function trainToTheEnd(page: Page, timeout = 240_000): Promise<void> {
  await page.getByTestId('start-training').click();
  await page.locator('[data-testid="train-screen"][data-status="done"]').waitFor({ timeout });
}
