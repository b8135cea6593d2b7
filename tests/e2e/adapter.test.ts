import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { launchChromium, watchPageErrors } from '../helpers/chromium.ts';
import { INSECURE_HOST } from './global_setup.ts';

// The built app in headless Chromium (global_setup.ts builds and serves it). With WebGPU the
// adapter panel describes the adapter; without it, a page says why and what to do.
// Screenshots go to test-results/e2e/ (git-ignored) for a person to look at.

const url = inject('webtuneUrl');
const requireWebGpu = process.env.REQUIRE_WEBGPU === '1';
const shots = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));
mkdirSync(shots, { recursive: true });

/** The probe ends in the adapter panel or the explanatory page; software WebGPU can take seconds to start. */
async function openApp(page: Page, address = url): Promise<'adapter' | 'no-webgpu'> {
  await page.goto(address);
  expect(await page.title()).toBe('webtune');
  return openAppOutcome(page);
}

async function openAppOutcome(page: Page): Promise<'adapter' | 'no-webgpu'> {
  const panel = page.getByTestId('adapter-panel');
  const missing = page.getByTestId('no-webgpu');
  await panel.or(missing).waitFor({ timeout: 60_000 });
  return (await panel.isVisible()) ? 'adapter' : 'no-webgpu';
}

/** Readable at 1280×720 means, at least, nothing wider than the window. */
async function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

/** The element's visible text, trimmed (waits for the element like every locator call). */
async function text(locator: Locator): Promise<string> {
  return (await locator.innerText()).trim();
}

async function newPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  return { page, errors: watchPageErrors(page) };
}

describe('with WebGPU (SwiftShader here)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('the adapter panel shows the adapter, its features and limits', async (ctx) => {
    const { page, errors } = await newPage(browser);
    if ((await openApp(page)) === 'no-webgpu') {
      const reason = await page.getByTestId('no-webgpu-reason').textContent();
      if (requireWebGpu) throw new Error(`REQUIRE_WEBGPU=1 but the app found no WebGPU adapter: ${reason}`);
      console.warn(`\n*** SKIPPING the adapter panel test: no WebGPU adapter in headless Chromium (${reason})\n`);
      ctx.skip();
    }
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('webtune');
    expect(await text(page.getByTestId('intro'))).toContain('LoRA');
    // Landmarks a screen reader can jump to, named by their headings.
    expect(await page.getByRole('region', { name: 'Your GPU' }).count()).toBe(1);
    expect(await page.getByRole('region', { name: 'Limits that matter' }).count()).toBe(1);
    expect(await page.getByRole('region', { name: 'Features' }).count()).toBe(1);

    const vendor = (await page.getByTestId('adapter-vendor').getAttribute('data-value')) ?? '';
    const description = (await page.getByTestId('adapter-description').getAttribute('data-value')) ?? '';
    expect(vendor + description, 'the adapter names neither a vendor nor a description').not.toBe('');
    expect(await page.getByTestId('adapter-kind').getAttribute('data-fallback')).toMatch(/^(true|false)$/);

    for (const limit of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize']) {
      const row = page.getByTestId(`limit-${limit}`);
      const value = Number(await row.getAttribute('data-value'));
      expect(value, limit).toBeGreaterThan(0);
      expect(await text(row)).toMatch(/\d+(\.\d+)? (bytes|KiB|MiB|GiB|TiB)/);
    }
    for (const feature of ['shader-f16', 'subgroups', 'timestamp-query']) {
      expect(await page.getByTestId(`feature-${feature}`).getAttribute('data-present')).toMatch(/^(true|false)$/);
    }

    expect(await overflowsHorizontally(page)).toBe(false);
    await page.screenshot({ path: join(shots, 'adapter.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  test('the larger-text toggle scales the page and is remembered', async () => {
    const { page, errors } = await newPage(browser);
    await openApp(page);
    const toggle = page.getByTestId('text-size-toggle');
    const rootSize = () => page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    const before = await rootSize();
    await toggle.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(rootSize).toBeGreaterThan(before);
    expect(await overflowsHorizontally(page)).toBe(false);
    await page.screenshot({ path: join(shots, 'adapter-large-text.png'), fullPage: true });

    await page.reload();
    await expect.poll(() => toggle.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(rootSize).toBeGreaterThan(before);
    expect(errors).toEqual([]);
  });
});

describe('without WebGPU', () => {
  test('a page that is not a secure origin explains that WebGPU needs https or localhost', async () => {
    // Any host name but localhost is an insecure origin over plain http, so navigator.gpu is absent.
    const browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
    try {
      const { page, errors } = await newPage(browser);
      const insecure = new URL(url);
      insecure.hostname = INSECURE_HOST;
      expect(await openApp(page, insecure.href)).toBe('no-webgpu');
      expect(await page.getByTestId('no-webgpu').getAttribute('data-code')).toBe('webgpu_unavailable');
      expect(await text(page.getByTestId('no-webgpu-reason'))).toContain('secure pages');
      expect(await text(page.getByTestId('no-webgpu-secure'))).toBe('not secure');
      expect(await text(page.getByRole('heading', { level: 2 }).last())).toBe('WebGPU is not available here');
      expect(await overflowsHorizontally(page)).toBe(false);
      await page.screenshot({ path: join(shots, 'no-webgpu-insecure.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  test('a browser that offers no adapter says the GPU may be blocked, and can check again', async (ctx) => {
    // Without --enable-unsafe-webgpu, Chromium here has navigator.gpu but no adapter. A machine
    // with a real, allowed GPU may still get one; then there is nothing to check.
    const browser = await launchChromium({ webgpu: false });
    try {
      const { page, errors } = await newPage(browser);
      if ((await openApp(page)) === 'adapter') {
        console.warn('\n*** SKIPPING the no-adapter test: this Chromium offers WebGPU even without --enable-unsafe-webgpu\n');
        ctx.skip();
      }
      expect(await text(page.getByTestId('no-webgpu-reason'))).toContain('no GPU adapter');
      expect(await text(page.getByTestId('no-webgpu-secure'))).toBe('secure');
      await page.screenshot({ path: join(shots, 'no-webgpu-no-adapter.png'), fullPage: true });

      // Checking again runs a fresh probe in the worker and lands on the same explanation.
      await page.getByTestId('retry-gpu').click();
      expect(await openAppOutcome(page)).toBe('no-webgpu');
      expect(await text(page.getByTestId('no-webgpu-reason'))).toContain('no GPU adapter');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
