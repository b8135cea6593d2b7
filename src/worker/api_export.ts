// Types of the merged-export and evaluation half of the worker API (api.ts).

/** Where a merged model goes. */
export type MergeTarget =
  /**
   * A folder the user picked with `showDirectoryPicker()` (File System Access API; Chromium):
   * the Hugging Face files are written into it one by one. A folder already holding model
   * weights is refused (`output_exists`): stale shards beside new ones would be loaded instead.
   */
  | { kind: 'folder'; handle: FileSystemDirectoryHandle }
  /**
   * One uncompressed .zip of the Hugging Face folder, written into the Origin Private File System
   * and handed back as a disk-backed File for the page to download.
   */
  | { kind: 'download' };

export interface MergeRequest {
  /** The saved run whose adapter to merge; its model must be the loaded one. Default: the last run trained here. */
  runId?: string;
  /** Merge into dequant(NF4(W)) (what PEFT's merge on a 4-bit model gives) instead of the full-precision W. */
  fromNf4: boolean;
  /** Bytes per safetensors shard before splitting (default 2 GB). */
  maxShardSize?: number;
  target: MergeTarget;
}

/** What a merged export produced and where it went. */
export interface MergedExport {
  /** e.g. "SmolLM2-135M-chat-merged" (the folder) or "….zip" (the download). */
  name: string;
  /** Files of the Hugging Face folder, in the order written. */
  files: string[];
  /** Bytes written (the .zip's size for a download). */
  bytes: number;
  /** Linear weights that received W + scale·B·A. */
  merged: number;
  /** Tensors copied byte for byte. */
  copied: number;
  source: 'full-precision' | 'nf4-of-full-precision' | 'bitsandbytes-4bit';
  /**
   * The .zip to download, for target `download` (a File backed by OPFS, cheap to pass). The next
   * download export deletes it from OPFS (one multi-GB scratch file at a time): save it first.
   */
  file: File | null;
  /**
   * Whether a copy was kept with the saved run in IndexedDB (downloadable later from Saved runs,
   * `runMerged`): the same .zip as a download, for either target. A new copy replaces the old one.
   */
  kept: boolean;
  /** When not kept: why (the quota, with sizes) and where the model is instead. */
  keptNote: string | null;
}

export interface EvaluateRequest {
  /** At most this many examples of the eval split (default 20), in file order. */
  limit?: number;
  /** 1 to 512 per answer (less where the prompt leaves less of the model's context). */
  maxNewTokens: number;
  /** 0 = greedy (the default; scores are then reproducible). */
  temperature: number;
  seed: number;
}

export interface EvalScores {
  rouge1: number;
  rouge2: number;
  rougeL: number;
  /** 0–100. */
  bleu: number;
  exactMatch: number;
}

export interface EvalTableRow {
  index: number;
  /** 1-based line of the dataset file, when known. */
  line: number | null;
  prompt: string;
  reference: string;
  baseOutput: string;
  tunedOutput: string | null;
  base: EvalScores;
  tuned: EvalScores | null;
}

/** ROUGE/BLEU of base vs tuned over the eval split (eval/report.ts's numbers). */
export interface EvalTable {
  /** Where the examples came from, e.g. "the 4 held-out examples of chat.jsonl". */
  source: string;
  /** Set when the examples were also trained on (no eval split): the scores flatter the tuned model. */
  warning: string | null;
  examples: number;
  summary: { base: EvalScores; tuned: EvalScores | null };
  rows: EvalTableRow[];
  /** The metrics' definitions, for the table's footnote. */
  definitions: Record<string, string>;
  /** The same table as files to download. */
  csv: string;
  json: string;
}
