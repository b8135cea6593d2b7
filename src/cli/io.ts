import type { Runtime } from '../engine/runtime.ts';

// What a CLI verb may touch besides the file system: its output streams and, for verbs that use
// the GPU, a runtime to use instead of acquiring one. Tests pass buffers and their own device
// (a second Dawn device in one process slows everything down, and is not what a user runs).
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  runtime?: Runtime;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Collects output in memory, for tests. */
export function memoryIo(runtime?: Runtime): CliIo & { stdout: string; stderr: string } {
  const io = {
    runtime,
    stdout: '',
    stderr: '',
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}
