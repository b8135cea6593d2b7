import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobSource, memorySource, readAllText } from '../../../src/formats/byte_source.ts';
import { FileReadError, ModelFolderError } from '../../../src/formats/errors.ts';
import { filesFolder, memoryFolder, readJson } from '../../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../../src/formats/node_folder.ts';
import { nodeFileSource, openNodeSource } from '../../../src/formats/node_source.ts';

const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

describe('byte sources', () => {
  it('memory, Blob and Node file sources return the same ranges', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-src-'));
    await writeFile(join(dir, 'f.bin'), bytes);
    const sources = [memorySource(bytes, 'm'), blobSource(new Blob([bytes]), 'b'), await openNodeSource(join(dir, 'f.bin'))];
    for (const s of sources) {
      expect(s.size).toBe(100);
      expect([...(await s.read(10, 5))]).toEqual([10, 11, 12, 13, 14]);
      expect((await s.read(100, 0)).length).toBe(0);
      await expect(s.read(98, 5)).rejects.toThrow(FileReadError);
      await expect(s.read(-1, 1)).rejects.toThrow(/cannot read/);
    }
  });

  it('a File names itself', () => {
    expect(blobSource(new File([bytes], 'model.safetensors')).name).toBe('model.safetensors');
  });

  it('a Node file that shrank after stat fails with the file named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-src-'));
    const path = join(dir, 'short.bin');
    await writeFile(path, bytes.subarray(0, 10));
    const s = nodeFileSource(path, 100, 'short.bin');
    await expect(s.read(0, 50)).rejects.toThrow(/short\.bin: ended after 10 bytes/);
  });

  it('missing Node files and folders are input errors', async () => {
    await expect(openNodeSource('/nonexistent/x.safetensors')).rejects.toThrow(FileReadError);
    await expect(openNodeFolder('/nonexistent/dir')).rejects.toThrow(ModelFolderError);
  });

  it('readAllText refuses invalid UTF-8', async () => {
    await expect(readAllText(memorySource(new Uint8Array([0xff]), 'x.json'))).rejects.toThrow(/x\.json: is not valid UTF-8/);
  });
});

describe('model folders', () => {
  it('in memory: list, has, open, readText, readJson', async () => {
    const folder = memoryFolder('tiny', { 'config.json': '{"a": 1}', 'model.safetensors': bytes, 'bad.json': '{' });
    expect(folder.list()).toEqual(['bad.json', 'config.json', 'model.safetensors']);
    expect(folder.has('config.json')).toBe(true);
    expect(await readJson(folder, 'config.json')).toEqual({ a: 1 });
    expect(folder.open('model.safetensors').size).toBe(100);
    expect(() => folder.open('tokenizer.json')).toThrow(/tiny\/tokenizer\.json: no such file/);
    await expect(readJson(folder, 'bad.json')).rejects.toThrow(/tiny\/bad\.json: is not valid JSON/);
  });

  it('from browser Files with webkitRelativePath', async () => {
    const file = (name: string, rel: string, content: string) => {
      const f = new File([content], name);
      Object.defineProperty(f, 'webkitRelativePath', { value: rel });
      return f;
    };
    const folder = filesFolder([file('config.json', 'SmolLM2/config.json', '{}'), file('x.json', 'SmolLM2/sub/x.json', '[]')]);
    expect(folder.name).toBe('SmolLM2');
    expect(folder.list()).toEqual(['config.json', 'sub/x.json']);
    expect(await folder.readText('sub/x.json')).toBe('[]');
    expect(folder.open('config.json').name).toBe('SmolLM2/config.json');
    const loose = filesFolder([new File(['{}'], 'config.json')]);
    expect(loose.list()).toEqual(['config.json']);
  });

  it('on disk: follows symlinks (HF cache snapshots), skips hidden entries, walks subfolders', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-folder-'));
    await mkdir(join(dir, 'blobs'));
    await mkdir(join(dir, 'snap', 'original'), { recursive: true });
    await mkdir(join(dir, 'snap', '.cache'));
    await writeFile(join(dir, 'blobs', 'abc'), '{"model_type":"llama"}');
    await symlink(join(dir, 'blobs', 'abc'), join(dir, 'snap', 'config.json'));
    await symlink(join(dir, 'blobs', 'missing'), join(dir, 'snap', 'dangling.json'));
    await writeFile(join(dir, 'snap', 'original', 'params.json'), '{}');
    await writeFile(join(dir, 'snap', '.cache', 'lock'), '');
    const folder = await openNodeFolder(join(dir, 'snap'));
    expect(folder.name).toBe('snap');
    expect(folder.list()).toEqual(['config.json', 'original/params.json']);
    expect(await readJson(folder, 'config.json')).toEqual({ model_type: 'llama' });
  });
});

describe('browser safety', () => {
  it('only the node_* modules import node: built-ins', async () => {
    const { readdir: list, readFile } = await import('node:fs/promises');
    const dir = new URL('../../../src/formats/', import.meta.url);
    for (const name of await list(dir)) {
      if (!name.endsWith('.ts') || name.startsWith('node_')) continue;
      const text = await readFile(new URL(name, dir), 'utf8');
      expect(text, name).not.toMatch(/from ['"]node:|from ['"]\.\/node_/);
    }
  });
});
