import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A stand-in for the Hugging Face Hub on 127.0.0.1, answering the two URLs webtune uses:
//   GET /api/models/{owner}/{name}/tree/main       the file list (LFS files with their size)
//   GET /{owner}/{name}/resolve/main/{path}        a file, with Range requests (206) honoured
// with the CORS headers the Hub sends, and a count of GETs per file so a test can tell a cached
// load from a download.

export interface HubServer {
  url: string;
  /** Full or ranged GETs of each `resolve` path so far. */
  gets: Map<string, number>;
  close(): Promise<void>;
}

export async function startHubServer(repos: Record<string, Map<string, Uint8Array>>): Promise<HubServer> {
  const gets = new Map<string, number>();
  const server = createServer((req, res) => handle(req, res, repos, gets));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gets,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, repos: Record<string, Map<string, Uint8Array>>, gets: Map<string, number>): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Range');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges');
  if (req.method === 'OPTIONS') {
    res.writeHead(204).end();
    return;
  }
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/main$/.exec(path);
  if (tree) {
    const files = repos[tree[1]];
    if (!files) return void res.writeHead(404).end('{"error":"Repository not found"}');
    const entries = [...files].map(([p, bytes]) => ({ type: 'file', oid: 'x', size: bytes.byteLength, path: p, ...(p.endsWith('.safetensors') ? { lfs: { oid: 'y', size: bytes.byteLength, pointerSize: 134 } } : {}) }));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(entries));
    return;
  }
  const file = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(path);
  const bytes = file ? repos[file[1]]?.get(file[2]) : undefined;
  if (!file || !bytes) return void res.writeHead(404).end('Entry not found');
  gets.set(file[2], (gets.get(file[2]) ?? 0) + 1);
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    const from = Number(range[1]);
    res.writeHead(206, { 'Content-Range': `bytes ${from}-${bytes.byteLength - 1}/${bytes.byteLength}`, 'Content-Length': bytes.byteLength - from, 'Accept-Ranges': 'bytes' });
    res.end(bytes.subarray(from));
    return;
  }
  res.writeHead(200, { 'Content-Length': bytes.byteLength, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' }).end(bytes);
}
