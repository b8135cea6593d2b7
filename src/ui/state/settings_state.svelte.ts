import type { Remote } from 'comlink';
import type { DatasetOptions, EngineApi, SettingSpec, SettingsInput, SettingsPreset, SettingsSchema } from '../../worker/api.ts';

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

const STORAGE_KEY = 'webtune.settings';

/**
 * The Settings screen: every training setting's value, the text typed into its box, and at most
 * one problem per field, checked by the engine's own validation (the one the CLI uses). Values are
 * remembered in localStorage between visits; a remembered value the engine no longer accepts is
 * simply shown with its problem.
 */
export class SettingsState {
  schema: SettingsSchema | null = $state.raw(null);
  values: Record<string, unknown> = $state({});
  /** What is in each text box, so "1e-" can be half typed without being rewritten. */
  text: Record<string, string> = $state({});
  problems: Record<string, string> = $state({});
  #generation = 0;

  constructor(
    private readonly engine: Remote<EngineApi>,
    private readonly store: KeyValueStore | undefined = browserStorage(),
  ) {}

  async init(): Promise<void> {
    const schema = await this.engine.settingsSchema();
    const saved = this.#read();
    const values: Record<string, unknown> = {};
    for (const f of schema.fields) values[f.field] = f.field in saved ? saved[f.field] : schema.defaults[f.field];
    this.schema = schema;
    this.#setAll(values);
    await this.validate();
  }

  get ok(): boolean {
    return this.schema !== null && Object.keys(this.problems).length === 0;
  }

  /** The preset every one of whose settings the form holds, if any. */
  get preset(): SettingsPreset | null {
    const same = (a: unknown, b: unknown) => (Array.isArray(a) && Array.isArray(b) ? a.join() === b.join() : a === b);
    return this.schema?.presets.find((p) => Object.entries(p.settings).every(([k, v]) => same(this.values[k], v))) ?? null;
  }

  /** How the dataset is tokenized: the form's values when valid, else the defaults. */
  get datasetOptions(): DatasetOptions {
    const pick = <K extends keyof DatasetOptions>(k: K): DatasetOptions[K] => (this.problems[k] ? this.schema?.defaults[k] : this.values[k]) as DatasetOptions[K];
    return { format: pick('format') ?? 'auto', maxLength: pick('maxLength') ?? 1024, lossOn: pick('lossOn') ?? 'completion' };
  }

  /** The settings to train with. */
  snapshot(): SettingsInput {
    return $state.snapshot(this.values) as SettingsInput;
  }

  /** A typed value from a text box: numbers parsed, empty → null, anything else passed on as text for the engine to name. */
  setText(spec: SettingSpec, raw: string): Promise<void> {
    this.text[spec.field] = raw;
    const trimmed = raw.trim();
    const number = Number(trimmed);
    this.values[spec.field] = trimmed === '' ? null : Number.isFinite(number) ? number : trimmed;
    return this.#changed();
  }

  set(field: string, value: unknown): Promise<void> {
    this.values[field] = value;
    this.text[field] = display(value);
    return this.#changed();
  }

  applyPreset(id: string): Promise<void> {
    const preset = this.schema?.presets.find((p) => p.id === id);
    if (!preset) return Promise.resolve();
    this.#setAll({ ...this.values, ...structuredClone(preset.settings) });
    return this.#changed();
  }

  reset(): Promise<void> {
    if (!this.schema) return Promise.resolve();
    this.#setAll(structuredClone(this.schema.defaults));
    return this.#changed();
  }

  async validate(): Promise<void> {
    const generation = ++this.#generation;
    const problems = await this.engine.validateSettings(this.snapshot());
    if (generation !== this.#generation) return;
    const byField: Record<string, string> = {};
    for (const p of problems) byField[p.field] ??= p.message;
    this.problems = byField;
  }

  #setAll(values: Record<string, unknown>): void {
    this.values = values;
    this.text = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, display(v)]));
  }

  async #changed(): Promise<void> {
    this.#write();
    await this.validate();
  }

  #read(): Record<string, unknown> {
    try {
      const parsed: unknown = JSON.parse(this.store?.getItem(STORAGE_KEY) ?? '{}');
      return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }

  #write(): void {
    try {
      this.store?.setItem(STORAGE_KEY, JSON.stringify(this.snapshot()));
    } catch {
      // Storage refused: the settings still hold until the page closes.
    }
  }
}

function display(value: unknown): string {
  if (value === null || value === undefined) return '';
  return Array.isArray(value) ? value.join(',') : String(value);
}

function browserStorage(): KeyValueStore | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
