import { ShaderError } from './errors.ts';
import { parseParamsStruct, uniformByteSize, type UniformSpec } from './uniforms.ts';

// A kernel = one WGSL entry point with an explicit bind group layout. Binding i of group 0 is
// `bindings[i]`; when the kernel has uniforms they are bound last, as `var<uniform> params: Params`.
// Pipelines are cached per set of `override` constants.

export type Access = 'read' | 'read_write';

export interface KernelSpec {
  /** Entry point name; by convention also the shader file name (`shaders/<name>.wgsl`). */
  name: string;
  /** The WGSL text, with any `shaders/lib` snippets already prepended. */
  source: string;
  /** Storage bindings in binding order. */
  bindings: readonly { name: string; access: Access }[];
  /** Fields of `struct Params`, in declaration order (checked against the source). */
  uniforms?: UniformSpec;
}

export type Overrides = Readonly<Record<string, number>>;

export class Kernel {
  readonly uniformBytes: number;
  private module?: GPUShaderModule;
  private layout?: GPUBindGroupLayout;
  private pipelineLayout?: GPUPipelineLayout;
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(
    readonly device: GPUDevice,
    readonly spec: KernelSpec,
  ) {
    const declared = parseParamsStruct(spec.source);
    const wanted = spec.uniforms ?? {};
    if (JSON.stringify(declared ?? {}) !== JSON.stringify(wanted)) {
      throw new ShaderError(spec.name, `struct Params ${JSON.stringify(declared)} does not match the launcher's ${JSON.stringify(wanted)}`);
    }
    this.uniformBytes = spec.uniforms ? uniformByteSize(spec.uniforms) : 0;
  }

  get bindGroupLayout(): GPUBindGroupLayout {
    if (!this.layout) {
      const entries: GPUBindGroupLayoutEntry[] = this.spec.bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
      }));
      if (this.spec.uniforms) {
        entries.push({ binding: entries.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      }
      this.layout = this.device.createBindGroupLayout({ label: this.spec.name, entries });
    }
    return this.layout;
  }

  pipeline(overrides: Overrides = {}): GPUComputePipeline {
    const key = JSON.stringify(overrides);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      this.module ??= this.device.createShaderModule({ label: this.spec.name, code: this.spec.source });
      this.pipelineLayout ??= this.device.createPipelineLayout({ label: this.spec.name, bindGroupLayouts: [this.bindGroupLayout] });
      pipeline = this.device.createComputePipeline({
        label: `${this.spec.name}${key === '{}' ? '' : key}`,
        layout: this.pipelineLayout,
        compute: { module: this.module, entryPoint: this.spec.name, constants: overrides as Record<string, number> },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** Builds the pipeline now and turns any WGSL or layout error into a ShaderError. */
  async compile(overrides: Overrides = {}): Promise<void> {
    this.device.pushErrorScope('validation');
    this.pipeline(overrides);
    const error = await this.device.popErrorScope();
    if (error) {
      const info = await this.module?.getCompilationInfo();
      const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
      this.pipelines.delete(JSON.stringify(overrides));
      throw new ShaderError(this.spec.name, messages || error.message);
    }
  }
}

/** Joins `shaders/lib` snippets and a kernel body into one WGSL source. */
export function withLibs(body: string, ...libs: string[]): string {
  return [...libs, body].join('\n');
}
