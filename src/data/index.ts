// The data layer's public surface, safe for the browser bundle (nothing from node:*; the Node file
// source is imported from ./node_stream_source.ts directly by Node-only code).

export { DatasetError, DatasetFormatError, TokenizerError } from './errors.ts';
export { blobStreamSource, memoryStreamSource, type StreamSource } from './stream_source.ts';
export { readJsonl, defaultMaxLineBytes, type JsonlRecord, type JsonlStats } from './jsonl.ts';
export { datasetFormats, detectFormat, type ChatMessage, type DatasetFormat, type Example } from './formats.ts';
export { TextTokenizer, type TokenizerFiles } from './tokenizer.ts';
export { ChatRenderer, chatmlTemplate, type AssistantSpan } from './chat_template.ts';
export { alpacaPrompt } from './alpaca.ts';
export { ExampleEncoder, type LossOn, type TokenizedExample } from './encode.ts';
export { collate, ignoreIndex, type Batch, type TokenRow } from './batch.ts';
export { packBestFitDecreasing } from './packing.ts';
export { Batcher, defaultBatchOptions, type BatchOptions, type PlanSummary } from './sampler.ts';
export { splitTrainEval } from './split.ts';
export { lengthBins, type DataWarning, type DatasetStats, type LengthBin } from './stats.ts';
export { formatPreview, previewExample, type ExamplePreview } from './preview.ts';
export { defaultDataOptions, loadDataset, splitDataset, type DataOptions, type LineIssue, type LoadedDataset } from './pipeline.ts';
