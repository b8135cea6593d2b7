import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

// Headless Chromium for the end-to-end tests, driven by playwright-core. Playwright cannot
// download its own browsers here, so we use the system's: WEBTUNE_CHROMIUM, else the usual paths.
//
// What gives WebGPU on these machines (Debian chromium 156, no GPU; checked by hand):
// - `--enable-unsafe-webgpu` alone is enough: Chromium's bundled SwiftShader (software Vulkan)
//   becomes a fallback adapter (vendor "google", architecture "swiftshader", empty device and
//   description, `subgroups` + `timestamp-query` but no `shader-f16`, 1 GiB binding limits).
// - Without it, `navigator.gpu` exists but `requestAdapter()` resolves null.
// - `--enable-features=Vulkan`, `--use-angle=swiftshader`, `--use-webgpu-adapter=swiftshader`,
//   `--use-vulkan=swiftshader` change nothing either way; `--disable-gpu`,
//   `--disable-features=WebGPUService` and `--disable-blink-features=WebGPU` do not remove it.
// - Only secure origins get `navigator.gpu`: http://127.0.0.1 or localhost, not another host name.
// Playwright's launch() already gives each browser a fresh temporary profile (user-data-dir).

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/snap/bin/chromium',
];

export const CHROMIUM_INSTALL_HINT =
  'install Chromium (Debian/Ubuntu: `sudo apt-get install -y chromium`) or point WEBTUNE_CHROMIUM at a Chrome or Chromium binary';

/** The Chromium binary to drive: WEBTUNE_CHROMIUM when set, else the first usual install path that exists. */
export function findChromium(): string {
  const fromEnv = process.env.WEBTUNE_CHROMIUM;
  if (fromEnv) {
    if (existsSync(fromEnv)) return fromEnv;
    throw new Error(`WEBTUNE_CHROMIUM=${fromEnv} does not exist: ${CHROMIUM_INSTALL_HINT}`);
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (looked at ${CANDIDATES.join(', ')}): ${CHROMIUM_INSTALL_HINT}`);
  return found;
}

/** Headless, quiet (nothing fetched from the network behind the test's back), GPU process unsandboxed. */
const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface ChromiumOptions {
  /** Pass `--enable-unsafe-webgpu` (default true): without it there is no adapter here. */
  webgpu?: boolean;
  /** More command-line switches, e.g. `--host-resolver-rules=…`. */
  args?: string[];
}

export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const args = [...BASE_ARGS, ...(options.webgpu === false ? [] : ['--enable-unsafe-webgpu']), ...(options.args ?? [])];
  return chromium.launch({ executablePath: findChromium(), args, headless: true });
}

/**
 * Everything the page or its workers report as an error (uncaught exceptions, console.error), so a
 * test can insist on none: a blank panel with an error in the console must not pass.
 */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console.error: ${msg.text()}`);
  });
  page.on('worker', (worker) => {
    worker.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`worker console.error: ${msg.text()}`);
    });
  });
  return errors;
}
