import { paddedLength } from '../data/batch.ts';
import { splitDataset } from '../data/pipeline.ts';
import { Batcher } from '../data/sampler.ts';
import { InputError } from '../errors.ts';
import type { Runtime } from '../engine/runtime.ts';
import { adapterZip, type Adapter } from '../formats/peft.ts';
import { projections } from '../formats/peft_config.ts';
import { adapterModelCard } from '../formats/peft_card.ts';
import type { LoraArrays } from '../model/lora_params.ts';
import { Model } from '../model/model.ts';
import type { RunRecord, RunStore } from '../storage/run_store.ts';
import type { Checkpoint } from '../train/checkpoint.ts';
import type { TrainConfig } from '../train/config.ts';
import { adapterSettingsFor, modelCardSettings } from '../train/config_adapter.ts';
import { loraInitStream } from '../train/rng.ts';
import { Trainer, type TrainResult } from '../train/trainer.ts';
import type { RunHistory, StepPoint, TrainCallbacks, TrainSummary } from './api.ts';
import type { DatasetSession } from './dataset_session.ts';
import type { TunedAdapter } from './generation.ts';
import type { ModelSession } from './model_session.ts';
import type { RunControl } from './run_control.ts';
import { checkpointAt, stepGate } from './run_gate.ts';
import { RunRecorder } from './run_recorder.ts';

// One training run in the engine: the same wiring as `webtune train` (src/cli/train.ts) with the
// UI's callbacks instead of stderr and saved runs instead of an output folder. The run's record,
// metric history, dataset copy, last checkpoint and final adapter go to the run store as it goes,
// so a closed tab leaves the run listed (as interrupted) and resumable from its last checkpoint.
// A resumed run is built by the same code and restores the checkpoint before its first step.

export interface RunInputs {
  rt: Runtime;
  model: ModelSession;
  dataset: DatasetSession;
  config: TrainConfig;
  store: RunStore<RunHistory>;
  callbacks: TrainCallbacks;
  control: RunControl;
  /** Told the saved run's id as soon as it exists. */
  onRunStart?: (runId: string) => void;
  /** Continue this saved run from this checkpoint (its config is `config`) instead of a new run. */
  resume?: { record: RunRecord; checkpoint: Checkpoint; history: RunHistory | undefined };
  /** Checkpoints by time (run_gate.ts); tests may shorten it. */
  checkpointEveryMs?: number;
}

export interface RunOutput {
  summary: TrainSummary;
  adapter: { fileName: string; bytes: Uint8Array };
  /** The trained pairs, for generating with them after the run's GPU buffers are gone. */
  tuned: TunedAdapter;
}

export async function trainRun(inputs: RunInputs): Promise<RunOutput> {
  const { rt, model: session, dataset, config, control, resume } = inputs;
  const { train: trainSet, eval: evalSet } = splitExamples(dataset, config);
  const padId = session.tokenizer.padId;
  const seed = config.seed;
  const train = new Batcher(trainSet, padId, { batchSize: config.batchSize, packing: config.packing, maxLength: config.maxLength, order: config.shuffle ? 'shuffle' : 'file', seed });
  const evalBatcher = evalSet.length ? new Batcher(evalSet, padId, { batchSize: config.batchSize, packing: false, maxLength: config.maxLength, order: 'file', seed }) : undefined;
  // Activations are planned for the longest row the data actually has, not for max length.
  const longest = Math.max(...train.rowLengths, ...(evalBatcher?.rowLengths ?? []));
  const model = new Model(rt, session.base, {
    lora: { r: config.loraR, alpha: config.loraAlpha, dropout: config.loraDropout, modules: config.targetModules, rslora: config.rslora, init: (t) => loraInitStream(seed, t) },
    maxBatch: config.batchSize,
    maxSeq: paddedLength(longest, train.options.padMultiple),
    gradCheckpointing: config.gradCheckpointing,
  });
  // The optimizer's buffers, once it exists; the run gives them back however it ends.
  let releaseOptimizer = () => {};
  try {
    await rt.arena.checkAllocations();
    const recorder = resume
      ? await RunRecorder.resume(inputs.store, inputs.callbacks, resume.record, resume.checkpoint, resume.history)
      : await RunRecorder.start(inputs.store, inputs.callbacks, {
          name: `${dataset.name} on ${session.card.name}`,
          model: session.card.name,
          modelSource: session.source,
          dataset: dataset.name,
          settings: { ...config, targetModules: [...config.targetModules] },
        });
    inputs.onRunStart?.(recorder.record.id);
    if (!resume) await recorder.keepDataset(dataset.file);
    let result: TrainResult;
    try {
      const trainer: Trainer = new Trainer(rt, model, config, { train, eval: evalBatcher }, {
        onStep: (m) => recorder.step(m),
        onEval: (e) => recorder.eval(e),
        onEvent: (text) => recorder.event(text),
        onCheckpoint: (c) => recorder.checkpoint(c),
        beforeStep: stepGate(() => trainer, control, recorder, inputs.checkpointEveryMs),
      });
      releaseOptimizer = () => trainer.release();
      if (resume) {
        // The same settings on the same data give the same plan; anything else would not continue this run.
        const before = resume.record.totalSteps;
        if (before !== 0 && before !== trainer.plan.totalSteps) {
          throw new InputError('resume_mismatch', `The run "${resume.record.name}" planned ${before} steps, but its saved dataset now gives ${trainer.plan.totalSteps}: it cannot be continued exactly. Start a new run.`);
        }
        trainer.restore(resume.checkpoint);
      }
      recorder.plan({ totalSteps: trainer.plan.totalSteps, stepsPerEpoch: trainer.plan.stepsPerEpoch, trainExamples: trainSet.length, evalExamples: evalSet.length, memory: { ...model.memory.live }, model: session.card });
      const from = resume ? `, continuing after step ${resume.checkpoint.state.step}` : '';
      recorder.event(`training on ${trainSet.length} examples (${evalSet.length} held out for eval): ${trainer.plan.totalSteps} optimizer steps${from}`);
      result = await trainer.run(control.signal);
      // A stopped run keeps a checkpoint of where it stopped, so it can be resumed.
      if (result.stoppedAt !== null) await checkpointAt(trainer, recorder, 'stopped');
    } catch (e) {
      // A lost device fails whatever GPU call was in flight, in the browser's own words; say what happened.
      const cause = (await deviceLostBy(rt)) ?? e;
      await recorder.fail(cause);
      throw cause;
    }
    recorder.event(result.stoppedAt === null ? 'finished' : `stopped after step ${result.stoppedAt}`);
    const lora = await model.exportLora();
    const adapter = buildAdapter(lora, session, dataset.name, config, result);
    const bytes = adapterZip(adapter);
    const summary = await recorder.finish(result, bytes, model.memory.peakTotal);
    const tuned: TunedAdapter = { weights: lora, options: { r: config.loraR, alpha: config.loraAlpha, modules: config.targetModules, rslora: config.rslora } };
    return { summary, adapter: { fileName: adapterFileName(session.card.name, dataset.name), bytes }, tuned };
  } finally {
    releaseOptimizer();
    model.release();
  }
}

function splitExamples(dataset: DatasetSession, config: TrainConfig) {
  const examples = dataset.loaded.examples;
  if (!config.evalSplit) return { train: examples, eval: [] };
  const split = splitDataset(examples, config.evalSplit, config.seed);
  if (split.train.length === 0) throw new InputError('empty_train_split', `Eval split ${config.evalSplit} leaves no training examples out of ${examples.length}; lower it.`);
  return split;
}

function buildAdapter(lora: Map<string, LoraArrays>, session: ModelSession, dataset: string, config: TrainConfig, result: TrainResult): Adapter {
  const weights = projections(session.base.config)
    .filter((p) => lora.has(p.path))
    .map((p) => ({ target: p, a: lora.get(p.path)!.A, b: lora.get(p.path)!.B }));
  const settings = adapterSettingsFor(config, session.card.name);
  const last = lastRealStep(result.steps);
  const card = adapterModelCard({
    baseModel: session.card.name,
    dataset,
    adapter: settings,
    settings: modelCardSettings(config),
    results: { steps: result.steps.length, epochs: result.steps.at(-1)?.epoch ?? 0, trainLoss: last?.loss ?? null, evalLoss: result.evals.at(-1)?.evalLoss ?? null, tokens: result.steps.reduce((n, s) => n + s.tokens, 0) },
    producer: 'webtune (in the browser)',
  });
  return { settings, weights, modelCard: card };
}

export function lastRealStep<S extends Pick<StepPoint, 'skipped'>>(steps: readonly S[]): S | undefined {
  for (let i = steps.length - 1; i >= 0; i--) if (!steps[i].skipped) return steps[i];
  return undefined;
}

/** "webtune-demo-untrained" + "chat.jsonl" → "webtune-demo-untrained-chat-lora.zip". */
export function adapterFileName(model: string, dataset: string): string {
  const slug = (s: string) => s.replace(/\.[a-z0-9]+$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'run';
  return `${slug(model)}-${slug(dataset)}-lora.zip`;
}

/** The device's loss, when it is lost now or within a moment (its promise may settle after the failed call). */
function deviceLostBy(rt: Runtime): Promise<Error | null> {
  return Promise.race([rt.gpu.lost, new Promise<null>((resolve) => setTimeout(() => resolve(null), 250))]);
}
