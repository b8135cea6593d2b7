// Packing a kernel's uniform struct. Our uniform structs hold only 4-byte scalars (u32, i32, f32),
// so field i sits at byte 4·i and the struct is padded to 16 bytes — no WGSL layout surprises.

export type UniformType = 'u32' | 'i32' | 'f32';
export type UniformSpec = Readonly<Record<string, UniformType>>;
export type UniformValues = Readonly<Record<string, number>>;

export function uniformByteSize(spec: UniformSpec): number {
  return Math.max(16, Math.ceil((Object.keys(spec).length * 4) / 16) * 16);
}

/** Writes the values into `view` at `offset`; every field must be given, and nothing else. */
export function packUniforms(kernel: string, spec: UniformSpec, values: UniformValues, view: DataView, offset: number): void {
  const names = Object.keys(spec);
  for (const name of Object.keys(values)) {
    if (!(name in spec)) throw new Error(`${kernel}: unknown uniform "${name}"`);
  }
  names.forEach((name, i) => {
    const v = values[name];
    if (v === undefined || Number.isNaN(v)) throw new Error(`${kernel}: uniform "${name}" not set`);
    const at = offset + 4 * i;
    const type = spec[name];
    if (type === 'f32') view.setFloat32(at, v, true);
    else if (!Number.isInteger(v)) throw new Error(`${kernel}: uniform "${name}" must be an integer, got ${v}`);
    else if (type === 'u32') {
      if (v < 0 || v > 0xffffffff) throw new Error(`${kernel}: uniform "${name}" = ${v} is out of u32 range`);
      view.setUint32(at, v, true);
    } else view.setInt32(at, v, true);
  });
}

/**
 * The `struct Params { … }` declared in a WGSL source, as a spec, so a launcher's uniform list is
 * checked against the shader it drives instead of trusted.
 */
export function parseParamsStruct(source: string): UniformSpec | undefined {
  const match = /struct\s+Params\s*\{([^}]*)\}/.exec(source);
  if (!match) return undefined;
  const spec: Record<string, UniformType> = {};
  const body = match[1].replace(/\/\/[^\n]*/g, '');
  for (const field of body.split(',')) {
    const m = /^\s*(\w+)\s*:\s*(\w+)\s*$/.exec(field);
    if (!m) continue;
    spec[m[1]] = m[2] as UniformType;
  }
  return spec;
}
