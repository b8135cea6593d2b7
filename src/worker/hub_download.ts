import { InputError } from '../errors.ts';
import type { ModelFolder } from '../formats/model_folder.ts';
import { OpfsModelCache, type CachedFile } from '../storage/opfs_cache.ts';
import type { HubPlan, Progress } from './api.ts';

// A model from the Hugging Face Hub (or a server that answers the same URLs, for tests and
// mirrors): the repository's file list from `{base}/api/models/{repo}/tree/main`, the files a
// model folder needs from `{base}/{repo}/resolve/main/{path}`, each streamed into the Origin
// Private File System. A file already complete there is not fetched again (the second visit loads
// from disk); a partial one resumes with a Range request. Gated and private repositories need a
// login webtune does not do: the user is told to download the folder and open it instead.

export class HubError extends InputError {
  constructor(message: string) {
    super('hub_error', message);
  }
}

/** A request that failed; `offline` when the server could not be reached at all (or failed itself). */
class HubRequestError extends HubError {
  constructor(
    message: string,
    readonly offline: boolean,
  ) {
    super(message);
  }
}

const REQUIRED = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL = ['chat_template.jinja', 'generation_config.json'];
const INDEX = 'model.safetensors.index.json';
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
/** Progress is reported at most this often while bytes stream. */
const REPORT_MS = 200;

interface TreeEntry {
  type?: string;
  path?: string;
  size?: number;
  lfs?: { size?: number };
}

/** What a download of `repo` would fetch, and how much of it is on disk already. */
export async function hubPlan(base: string, repo: string, signal?: AbortSignal): Promise<HubPlan> {
  checkRepo(repo);
  const cache = await requireCache(repo);
  let files: CachedFile[];
  try {
    files = await listFiles(base, repo, cache, signal);
    await cache.saveListing(files);
  } catch (e) {
    // Offline (or the Hub is down): a model downloaded before still loads from its cached list.
    const cached = await cache.listing();
    if (!cached || signal?.aborted || !(e instanceof HubRequestError && e.offline)) throw e;
    files = cached;
  }
  const sizes = await Promise.all(files.map((f) => cache.size(f.path)));
  const cachedBytes = files.reduce((n, f, i) => n + Math.min(f.bytes, sizes[i]), 0);
  return { repo, base, files: files.map((f, i) => ({ ...f, cachedBytes: Math.min(f.bytes, sizes[i]) })), totalBytes: files.reduce((n, f) => n + f.bytes, 0), cachedBytes };
}

/** Fetches what is missing of `plan` into the cache and returns the cached folder. */
export async function downloadHubModel(plan: HubPlan, onProgress: (p: Progress) => void, signal: AbortSignal): Promise<ModelFolder> {
  const cache = await requireCache(plan.repo);
  let done = plan.cachedBytes;
  const rate = new RateMeter();
  let lastReport = 0;
  const report = (file: string, force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < REPORT_MS) return;
    lastReport = now;
    onProgress({ stage: `Downloading ${file}`, done, total: plan.totalBytes, unit: 'bytes', bytesPerS: rate.perSecond(done, now) });
  };
  report(plan.files[0]?.path ?? '', true);
  for (const file of plan.files) {
    let have = await cache.size(file.path);
    if (have === file.bytes) continue;
    if (have > file.bytes) {
      done -= Math.min(have, file.bytes);
      have = 0;
    }
    const response = await get(fileUrl(plan.base, plan.repo, file.path), signal, have > 0 ? { Range: `bytes=${have}-` } : {});
    // A server that ignores Range sends the whole file (200): start it again.
    const offset = response.status === 206 ? have : 0;
    done -= have - offset;
    if (!response.body) throw new HubError(`${file.path}: the server sent no body`);
    await cache.write(file.path, offset, chunks(response.body), (n) => {
      done += n;
      report(file.path);
    });
    const size = await cache.size(file.path);
    if (size !== file.bytes) throw new HubError(`${plan.repo}/${file.path}: received ${size} bytes, the Hub listed ${file.bytes}; download again to resume`);
  }
  report('done', true);
  return cache.folder(plan.repo, plan.files);
}

async function listFiles(base: string, repo: string, cache: OpfsModelCache, signal?: AbortSignal): Promise<CachedFile[]> {
  const response = await get(`${trim(base)}/api/models/${repo}/tree/main`, signal);
  const tree = (await response.json().catch(() => null)) as TreeEntry[] | null;
  if (!Array.isArray(tree)) throw new HubError(`${base} did not answer with a file list for ${repo}; is the Hub address right?`);
  const sizes = new Map<string, number>();
  for (const e of tree) if (e.type === 'file' && typeof e.path === 'string' && !e.path.includes('/')) sizes.set(e.path, e.lfs?.size ?? e.size ?? 0);
  const missing = REQUIRED.filter((f) => !sizes.has(f));
  if (missing.length) throw new HubError(`${repo} has no ${missing.join(', ')}: webtune needs a Transformers model with its tokenizer files`);
  let weights: string[];
  if (sizes.has(INDEX)) {
    // The index is read to know the shards; it is kept, so it is fetched once like any file.
    const bytes = sizes.get(INDEX)!;
    if ((await cache.size(INDEX)) !== bytes) {
      const text = new Uint8Array(await (await get(fileUrl(base, repo, INDEX), signal)).arrayBuffer());
      await cache.write(INDEX, 0, once(text), () => {});
    }
    const index = (await cache.json(INDEX)) as { weight_map?: Record<string, string> } | null;
    weights = [INDEX, ...new Set(Object.values(index?.weight_map ?? {}))];
  } else weights = [...sizes.keys()].filter((p) => p.endsWith('.safetensors'));
  if (!weights.some((p) => p.endsWith('.safetensors'))) {
    throw new HubError(`${repo} has no .safetensors weights (only pickled .bin files, which webtune does not load)`);
  }
  const absent = weights.filter((p) => !sizes.has(p));
  if (absent.length) throw new HubError(`${repo}: ${INDEX} names ${absent[0]}, which the repository does not have`);
  return [...REQUIRED, ...OPTIONAL.filter((f) => sizes.has(f)), ...weights].map((path) => ({ path, bytes: sizes.get(path)! }));
}

async function get(url: string, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal, headers });
  } catch (e) {
    if (signal?.aborted) throw new HubError('The download was cancelled; start it again to resume where it stopped.');
    throw new HubRequestError(`Could not reach ${new URL(url).origin} (${(e as Error).message}). Check the connection and the Hub address.`, true);
  }
  if (response.ok) return response;
  const where = url.replace(/\?.*$/, '');
  if (response.status === 401 || response.status === 403) {
    throw new HubRequestError(`${where}: the repository is gated or private (HTTP ${response.status}). webtune cannot sign in to the Hub: download the model yourself and open its folder.`, false);
  }
  if (response.status === 404) throw new HubRequestError(`${where}: not found (HTTP 404). Check the repository id (owner/name).`, false);
  throw new HubRequestError(`${where}: the server answered HTTP ${response.status}; try again later.`, response.status >= 500);
}

function fileUrl(base: string, repo: string, path: string): string {
  return `${trim(base)}/${repo}/resolve/main/${path.split('/').map(encodeURIComponent).join('/')}`;
}

function trim(base: string): string {
  return base.replace(/\/+$/, '');
}

function checkRepo(repo: string): void {
  if (!REPO_ID.test(repo)) throw new HubError(`"${repo}" is not a repository id: write it as owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct`);
}

async function requireCache(repo: string): Promise<OpfsModelCache> {
  const cache = await OpfsModelCache.open(repo);
  if (!cache) throw new HubError('This browser gives the page no private file storage (OPFS) to download into; download the model yourself and open its folder.');
  return cache;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* chunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Bytes per second over the last few seconds. */
class RateMeter {
  private samples: { at: number; bytes: number }[] = [];

  perSecond(bytes: number, at: number): number {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[0].at > 3000) this.samples.shift();
    const first = this.samples[0];
    return at > first.at ? ((bytes - first.bytes) * 1000) / (at - first.at) : 0;
  }
}
