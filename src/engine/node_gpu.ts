import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDevice, type GpuContext } from './device.ts';
import { WebGPUUnavailableError } from './errors.ts';

// WebGPU in Node through Dawn (the `webgpu` package). Node only: the browser build never imports
// this file. Order: the machine's own GPU; else Chromium's SwiftShader (a software Vulkan) when
// its ICD is on disk; else an error that says what to install.

const ICD_CANDIDATES = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

export const INSTALL_HINT =
  'install a GPU driver with Vulkan, or the software fallback: `apt-get install -y chromium libvulkan1` ' +
  '(or point WEBTUNE_SWIFTSHADER_ICD at a vk_swiftshader_icd.json)';

/** Chromium's SwiftShader ICD manifest: WEBTUNE_SWIFTSHADER_ICD, else the usual install paths. */
export function findSwiftShaderIcd(): string | undefined {
  const fromEnv = process.env.WEBTUNE_SWIFTSHADER_ICD;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return ICD_CANDIDATES.find((p) => existsSync(p));
}

export interface NodeGpuOptions {
  /** 'system' tries the machine's GPU first; 'swiftshader' goes straight to the software one (tests). */
  prefer?: 'system' | 'swiftshader';
  /** Told when we fall back, so the CLI can say so on stderr. */
  onNote?: (message: string) => void;
}

/**
 * Vulkan's window-system code complains on stderr ("XDG_RUNTIME_DIR is invalid or not set") on
 * headless machines; a private runtime dir keeps the CLI's stderr to what we print.
 */
function quietVulkan(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `webtune-runtime-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  } catch {
    // Only a cosmetic message is at stake.
  }
}

export async function acquireNodeDevice(options: NodeGpuOptions = {}): Promise<GpuContext> {
  quietVulkan();
  const { create, globals } = await import('webgpu');
  // Dawn's constants (GPUBufferUsage, GPUMapMode …) are globals in the browser; make them so here.
  Object.assign(globalThis, globals);
  const icd = findSwiftShaderIcd();
  const userIcd = process.env.VK_ICD_FILENAMES;

  if (options.prefer !== 'swiftshader' || !icd || userIcd) {
    const adapter = await tryAcquire(create);
    if (adapter) return adapter;
  }
  if (icd && process.env.VK_ICD_FILENAMES !== icd) {
    // The Vulkan loader reads this when Dawn creates its next instance.
    process.env.VK_ICD_FILENAMES = icd;
    const adapter = await tryAcquire(create);
    if (adapter) {
      if (options.prefer !== 'swiftshader') options.onNote?.(`no GPU adapter found; using SwiftShader (software, slow) from ${icd}`);
      return adapter;
    }
  }
  throw new WebGPUUnavailableError(`no WebGPU adapter in Node: ${INSTALL_HINT}`);
}

// Dawn zero-fills workgroup memory at the start of every shader (the spec demands it); on
// SwiftShader that turns a kernel with a 16 KB tile into a 15-second compile. Our kernels write
// every workgroup cell before reading it, so Node skips the fill. Browsers still do it, and the
// e2e tests run there, so a kernel that read uninitialized memory would differ and be caught.
const DAWN_FLAGS = ['enable-dawn-features=disable_workgroup_init'];

async function tryAcquire(create: (flags: string[]) => GPU): Promise<GpuContext | undefined> {
  try {
    return await acquireDevice(create(DAWN_FLAGS));
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) return undefined;
    throw e;
  }
}
