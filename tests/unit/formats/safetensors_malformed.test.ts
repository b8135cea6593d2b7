import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { memorySource } from '../../../src/formats/byte_source.ts';
import { SafetensorsFormatError } from '../../../src/formats/errors.ts';
import { openSafetensors } from '../../../src/formats/safetensors.ts';
import { findDuplicateKey } from '../../../src/formats/safetensors_header.ts';
import { MALFORMED, rawSafetensors } from '../../fixtures/malformed_safetensors.ts';

// One test per way a safetensors file can break formats.md §3.3. Each asserts the error class
// and that the message names the file and, where there is one, the tensor.

const FILE = 'bad.safetensors';

async function failure(bytes: Uint8Array): Promise<SafetensorsFormatError> {
  try {
    await openSafetensors(memorySource(bytes, FILE));
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsFormatError);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toContain(FILE);
    expect((e as Error).message).not.toContain('\n');
    return e as SafetensorsFormatError;
  }
  throw new Error('expected openSafetensors to fail');
}

async function tensorFailure(bytes: Uint8Array, tensor: string, pattern: RegExp): Promise<void> {
  const e = await failure(bytes);
  expect(e.tensor).toBe(tensor);
  expect(e.message).toContain(`tensor "${tensor}"`);
  expect(e.message).toMatch(pattern);
}

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const json = (o: unknown) => JSON.stringify(o);

describe('safetensors header length', () => {
  it('rejects a file shorter than the 8-byte length', async () => {
    expect((await failure(new Uint8Array(5))).message).toMatch(/5 bytes, too short/);
  });

  it('rejects an absurd header length (> 100,000,000)', async () => {
    expect((await failure(rawSafetensors('{}', 0, 100_000_001n))).message).toMatch(/over the 100,000,000-byte limit/);
    expect((await failure(rawSafetensors('{}', 0, 2n ** 63n))).message).toMatch(/over the/);
  });

  it('rejects a header length past the end of the file', async () => {
    expect((await failure(rawSafetensors('{}', 0, 50n))).message).toMatch(/says 50 bytes but only 2 bytes follow/);
  });
});

describe('safetensors header text', () => {
  it('rejects a header that is not UTF-8', async () => {
    expect((await failure(rawSafetensors(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])))).message).toMatch(/not valid UTF-8/);
  });

  it('rejects a header that does not start with {', async () => {
    expect((await failure(rawSafetensors('[1, 2]'))).message).toMatch(/does not start with "\{"/);
    expect((await failure(rawSafetensors('    '))).message).toMatch(/only whitespace/);
  });

  it('accepts leading and trailing whitespace padding around the object', async () => {
    const file = await openSafetensors(memorySource(rawSafetensors(`  ${json({ a: entry('U8', [2], [0, 2]) })}    `, 2), FILE));
    expect(file.names()).toEqual(['a']);
  });

  it('rejects a header that is not JSON', async () => {
    expect((await failure(rawSafetensors('{"a": {"dtype": "F32",'))).message).toMatch(/not valid JSON/);
  });

  it('rejects a duplicate tensor name (JSON.parse would keep the last silently)', async () => {
    const e = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
    await tensorFailure(rawSafetensors(`{"w":${e},"w":${e}}`, 1), 'w', /appears twice/);
    await tensorFailure(rawSafetensors(`{"w":${e},"\\u0077":${e}}`, 1), 'w', /appears twice/);
  });

  it('rejects a duplicate field inside one tensor entry', async () => {
    await tensorFailure(rawSafetensors('{"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', 1), 'w', /field "dtype" appears twice/);
  });

  it('finds duplicates only where they are, not in values or arrays', () => {
    expect(findDuplicateKey('{"a":"a","b":["a","a"],"c":{"a":1,"b":{"a":2}}}')).toBeNull();
    expect(findDuplicateKey('{"x":{"y":{"k":1,"k":2}}}')).toEqual({ key: 'k', path: ['x', 'y'] });
    expect(findDuplicateKey('{"s":"q\\"uote","s":1}')).toEqual({ key: 's', path: [] });
  });
});

describe('safetensors __metadata__', () => {
  it('rejects nested values', async () => {
    expect((await failure(rawSafetensors(json({ __metadata__: { format: { a: 1 } } })))).message).toMatch(/"format" is an object/);
  });

  it('rejects non-string values', async () => {
    expect((await failure(rawSafetensors(json({ __metadata__: { step: 3 } })))).message).toMatch(/"step" is number 3/);
  });

  it('accepts a null __metadata__ (serde reads it as None) and rejects a repeated one', async () => {
    expect((await openSafetensors(memorySource(rawSafetensors(json({ __metadata__: null })), FILE))).metadata).toBeNull();
    const e = await failure(rawSafetensors('{"__metadata__":{},"__metadata__":{}}'));
    expect(e.tensor).toBeNull();
    expect(e.message).toMatch(/__metadata__ appears twice/);
  });

  it('rejects a metadata that is not an object', async () => {
    expect((await failure(rawSafetensors(json({ __metadata__: ['pt'] })))).message).toMatch(/__metadata__ must be an object/);
  });
});

describe('safetensors tensor entries', () => {
  it('rejects an entry that is not an object', async () => {
    await tensorFailure(rawSafetensors(json({ t: [1, 2] })), 't', /must be an object/);
  });

  it('rejects an unknown dtype', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('F12', [1], [0, 2]) }), 2), 't', /unknown dtype "F12"/);
    await tensorFailure(rawSafetensors(json({ t: entry('f32', [1], [0, 4]) }), 4), 't', /unknown dtype "f32"/);
  });

  it('rejects a shape that is not a list of non-negative integers', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('U8', [-1], [0, 0]) })), 't', /shape must be a list/);
    await tensorFailure(rawSafetensors(json({ t: entry('U8', [1.5], [0, 0]) })), 't', /shape must be a list/);
    await tensorFailure(rawSafetensors(json({ t: entry('U8', 4, [0, 4]) }), 4), 't', /shape must be a list/);
    await tensorFailure(rawSafetensors(json({ t: { dtype: 'U8', data_offsets: [0, 4] } }), 4), 't', /got nothing/);
  });

  it('rejects malformed data_offsets', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('U8', [0], [3, 1]) }), 3), 't', /begin <= end/);
    await tensorFailure(rawSafetensors(json({ t: entry('U8', [1], [0]) }), 1), 't', /data_offsets must be/);
  });

  it('rejects offsets outside the data section', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('F32', [4], [0, 16]) }), 8), 't', /run past the end of the data section \(8 bytes\)/);
  });

  it('rejects a byte length different from prod(shape) × dtype size', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('F32', [2, 3], [0, 20]) }), 20), 't', /needs 24 bytes but data_offsets \[0, 20\] hold 20/);
  });

  it('rejects sub-byte dtypes that do not fill whole bytes', async () => {
    await tensorFailure(rawSafetensors(json({ t: entry('F4', [3], [0, 2]) }), 2), 't', /not a whole number of bytes/);
  });

  it('rejects overlapping tensors', async () => {
    const header = json({ a: entry('U8', [8], [0, 8]), b: entry('U8', [8], [4, 12]) });
    await tensorFailure(rawSafetensors(header, 12), 'b', /overlap tensor "a"/);
  });

  it('rejects holes between tensors and before the first', async () => {
    await tensorFailure(rawSafetensors(json({ a: entry('U8', [4], [0, 4]), b: entry('U8', [4], [6, 10]) }), 10), 'b', /hole of 2 bytes/);
    await tensorFailure(rawSafetensors(json({ a: entry('U8', [4], [2, 6]) }), 6), 'a', /data section starts at 0/);
  });

  it('rejects a file longer than its tensors', async () => {
    await tensorFailure(rawSafetensors(json({ a: entry('U8', [4], [0, 4]) }), 9), 'a', /holds 9 data bytes \(5 extra\)/);
    expect((await failure(rawSafetensors('{}', 3))).message).toMatch(/lists no tensors/);
  });

  it('accepts empty tensors sharing an offset and scalars', async () => {
    const header = json({ e1: entry('F32', [0], [4, 4]), s: entry('F32', [], [0, 4]), e0: entry('U8', [3, 0], [0, 0]) });
    const file = await openSafetensors(memorySource(rawSafetensors(header, 4), FILE));
    expect(file.names()).toEqual(['e0', 's', 'e1']);
    expect((await file.readTensor('e1')).bytes.length).toBe(0);
  });
});

describe('the malformed-file catalog used by the CLI tests', () => {
  it.each(MALFORMED)('$label fails with its documented message', async ({ bytes, tensor, pattern }) => {
    const e = await failure(bytes);
    expect(e.tensor).toBe(tensor);
    expect(e.message).toMatch(pattern);
  });
});
