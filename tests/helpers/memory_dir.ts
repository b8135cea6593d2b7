import type { DirectoryLike, FileHandleLike, WritableLike } from '../../src/storage/export_dir.ts';

// An in-memory FileSystemDirectoryHandle for Node tests: the subset src/storage/export_dir.ts
// uses, with the browser's semantics that matter — getFileHandle({ create }) makes an empty file
// at once, createWritable() writes a swap copy that replaces the file only on close(), abort()
// discards it, and a missing entry is a NotFoundError DOMException.

export class MemoryDirectory implements DirectoryLike {
  readonly files = new Map<string, Uint8Array>();
  readonly dirs = new Map<string, MemoryDirectory>();

  constructor(readonly name = 'picked') {}

  async getFileHandle(name: string, options: { create?: boolean } = {}): Promise<FileHandleLike> {
    if (!this.files.has(name)) {
      if (!options.create) throw new DOMException(`${name} not found`, 'NotFoundError');
      this.files.set(name, new Uint8Array(0));
    }
    return new MemoryFileHandle(this, name);
  }

  async getDirectoryHandle(name: string, options: { create?: boolean } = {}): Promise<MemoryDirectory> {
    let dir = this.dirs.get(name);
    if (!dir) {
      if (!options.create) throw new DOMException(`${name} not found`, 'NotFoundError');
      dir = new MemoryDirectory(name);
      this.dirs.set(name, dir);
    }
    return dir;
  }

  async removeEntry(name: string): Promise<void> {
    if (!this.files.delete(name) && !this.dirs.delete(name)) throw new DOMException(`${name} not found`, 'NotFoundError');
  }

  async *keys(): AsyncGenerator<string> {
    yield* [...this.files.keys(), ...this.dirs.keys()];
  }
}

class MemoryFileHandle implements FileHandleLike {
  constructor(
    private readonly dir: MemoryDirectory,
    readonly name: string,
  ) {}

  async getFile(): Promise<File> {
    const bytes = this.dir.files.get(this.name);
    if (!bytes) throw new DOMException(`${this.name} not found`, 'NotFoundError');
    return new File([bytes as Uint8Array<ArrayBuffer>], this.name);
  }

  async createWritable(): Promise<WritableLike> {
    const parts: Uint8Array[] = [];
    let open = true;
    const check = () => {
      if (!open) throw new TypeError(`the writable of ${this.name} is closed`);
    };
    return {
      write: async (data) => {
        check();
        parts.push(data.slice());
      },
      close: async () => {
        check();
        open = false;
        if (!this.dir.files.has(this.name)) throw new DOMException(`${this.name} was removed`, 'NotFoundError');
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
        this.dir.files.set(this.name, out);
      },
      abort: async () => {
        open = false;
      },
    };
  }
}
