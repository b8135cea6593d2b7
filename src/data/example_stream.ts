import { LineProblem } from './errors.ts';
import { describeUnknownFormat, detectFormat, parseExample, type DatasetFormat, type Example } from './formats.ts';
import { readJsonl, type JsonlStats } from './jsonl.ts';
import type { StreamSource } from './stream_source.ts';

// The examples of a JSONL file, one line at a time: read, detect the format from the first valid
// line (or take the one chosen), parse. A bad line goes to `onBadLine` (which throws to stop, or
// returns to skip it); shared by the training pipeline and the eval references.

export interface ParsedLine {
  line: number;
  example: Example;
  format: DatasetFormat;
  /** Where the format came from, e.g. "detected from line 1". */
  formatOrigin: string;
}

export interface ExampleStreamOptions {
  /** null: detected from the first valid line. */
  format: DatasetFormat | null;
  /** Default: readJsonl's bound. */
  maxLineBytes?: number;
  /** Bounds token ids of the tokenized format. */
  vocabSize: number;
  onBadLine(line: number, reason: string): void;
  /** Called once with a detected format and where it came from; may throw to refuse it. */
  onDetected?(format: DatasetFormat, origin: string): void;
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

export async function* readExamples(source: StreamSource, options: ExampleStreamOptions, stats?: JsonlStats): AsyncGenerator<ParsedLine> {
  let format = options.format;
  let formatOrigin = format === null ? '' : 'format chosen by the user';
  for await (const record of readJsonl(source, { maxLineBytes: options.maxLineBytes, onProgress: options.onProgress }, stats)) {
    if (record.kind === 'problem') {
      options.onBadLine(record.line, record.reason);
      continue;
    }
    if (format === null) {
      const detected = detectFormat(record.value);
      if (detected === null) {
        options.onBadLine(record.line, describeUnknownFormat(record.value));
        continue;
      }
      format = detected;
      formatOrigin = `detected from line ${record.line}`;
      options.onDetected?.(format, formatOrigin);
    }
    let example: Example;
    try {
      example = parseExample(record.value, format, options.vocabSize, formatOrigin);
    } catch (e) {
      if (!(e instanceof LineProblem)) throw e;
      options.onBadLine(record.line, e.reason);
      continue;
    }
    yield { line: record.line, example, format, formatOrigin };
  }
}
