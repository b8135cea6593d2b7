// Scoring generated text against references (issue #6): the public surface for the worker and CLI.
export { bleuFromStats, bleuStats, corpusBleu, corpusBleuDefaults, sentenceBleu, sentenceBleuDefaults, sumBleuStats, type BleuOptions, type BleuScore, type BleuSmoothing, type BleuStats, type BleuTokenizer } from './bleu.ts';
export { exactMatch, normalizeAnswer } from './exact_match.ts';
export { porterStem } from './porter.ts';
export { displayPrompt, loadReferences, noReferenceReason, referenceFormats, referenceOf, referencesAtLines, renderPrompt, type EvalPrompt, type EvalReference, type LoadedReferences, type ReferenceOptions } from './references.ts';
export { buildEvalReport, metricDefinitions, scoreOutput, type EvalExample, type EvalReport, type EvalRow, type EvalSummary, type OutputScores, type SystemSummary } from './report.ts';
export { csvField, formatSummaryTable, reportFormatOf, reportToCsv, reportToJson } from './report_export.ts';
export { lcsLength, rouge, rougeLTokens, rougeNTokens, type RougeOptions, type RougeScore, type RougeScores } from './rouge.ts';
export { pythonSplit, rougeTokens, tokenize13a, tokenizeNone } from './tokenize_text.ts';
export { encodeEvalPrompts, evalExampleOf } from './eval_prompts.ts';
