import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { checkpointFiles, parseCheckpoint, CHECKPOINT_FILES, type Checkpoint } from '../train/checkpoint.ts';

// Checkpoints on disk: `<out>/checkpoints/step-000012/`. A save writes `step-000012.partial/` and
// renames it into place, then removes all but the newest KEEP, so a crash mid-save leaves the
// previous checkpoint whole (a rename within one folder is atomic on POSIX file systems).

const KEEP = 3;

export function checkpointRoot(out: string): string {
  return join(out, 'checkpoints');
}

export async function saveCheckpoint(out: string, c: Checkpoint): Promise<string> {
  const root = checkpointRoot(out);
  const name = `step-${String(c.state.step).padStart(6, '0')}`;
  const partial = join(root, `${name}.partial`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  for (const [file, bytes] of checkpointFiles(c)) await writeFile(join(partial, file), bytes);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(partial, final);
  const steps = (await readdir(root)).filter((e) => /^step-\d+$/.test(e)).sort();
  for (const old of steps.slice(0, -KEEP)) await rm(join(root, old), { recursive: true, force: true });
  return final;
}

/** A checkpoint folder, or an output folder whose checkpoints/ holds one (the latest wins). */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  let folder = dir;
  const entries = await readdir(dir).catch(() => {
    throw new InputError('bad_checkpoint', `${dir}: no such folder; --resume takes a checkpoint folder or a training --out folder`);
  });
  if (!entries.includes(CHECKPOINT_FILES.state)) {
    const steps = entries.includes('checkpoints') ? (await readdir(checkpointRoot(dir))).filter((e) => /^step-\d+$/.test(e)).sort() : [];
    if (steps.length === 0) throw new InputError('bad_checkpoint', `${dir} holds no ${CHECKPOINT_FILES.state} and no checkpoints/step-N folder; nothing to resume`);
    folder = join(checkpointRoot(dir), steps.at(-1)!);
  }
  const files = new Map<string, Uint8Array>();
  for (const file of Object.values(CHECKPOINT_FILES)) {
    const bytes = await readFile(join(folder, file)).catch(() => undefined);
    if (bytes) files.set(file, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return parseCheckpoint(files, folder);
}
