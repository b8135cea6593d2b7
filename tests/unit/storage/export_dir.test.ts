import { describe, expect, it } from 'vitest';
import { MemoryDirectory } from '../../helpers/memory_dir.ts';
import { directoryFileSink, entryNames, type DirectoryLike } from '../../../src/storage/export_dir.ts';

// Files written into a directory handle (the in-memory one stands in for a picked folder or OPFS):
// nothing shows under the real name until close, abort removes the entry, a refused permission is
// an InputError that says to pick the folder again.

describe('directoryFileSink', () => {
  it('commits on close; abort leaves no entry', async () => {
    const dir = new MemoryDirectory('out');
    const a = await directoryFileSink(dir, 'a.bin');
    await a.write(Uint8Array.of(1, 2));
    await a.write(new Uint8Array([9, 3, 4, 9]).subarray(1, 3));
    expect(dir.files.get('a.bin')).toEqual(new Uint8Array(0)); // the swap copy is not visible yet
    await a.close();
    expect(dir.files.get('a.bin')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(a.bytes).toBe(4);
    const b = await directoryFileSink(dir, 'b.bin');
    await b.write(Uint8Array.of(5));
    await b.abort();
    expect(await entryNames(dir)).toEqual(['a.bin']);
  });

  it('a refused permission names the folder and says what to do', async () => {
    const denied: DirectoryLike = {
      name: 'Models',
      getFileHandle: async () => {
        throw new DOMException('denied', 'NotAllowedError');
      },
      getDirectoryHandle: async () => denied,
      removeEntry: async () => {},
      keys: async function* () {},
    };
    await expect(directoryFileSink(denied, 'config.json')).rejects.toMatchObject({ code: 'folder_permission', message: expect.stringContaining('"Models"') });
  });
});
