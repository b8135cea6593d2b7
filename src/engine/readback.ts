import type { GpuTensor } from './tensor.ts';

// Reading GPU memory back: only for what a step must report, for tests, and for exports.

export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
  const size = Math.ceil(byteLength / 4) * 4;
  const staging = device.createBuffer({ label: `readback of ${buffer.label}`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder({ label: 'readback' });
  encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}

/** All chunks of a tensor, concatenated, as raw bytes. */
export async function readTensorBytes(device: GPUDevice, tensor: GpuTensor): Promise<Uint8Array> {
  const out = new Uint8Array(tensor.byteLength);
  let offset = 0;
  for (const chunk of tensor.chunks) {
    out.set(new Uint8Array(await readBuffer(device, chunk.buffer, 0, chunk.byteLength)), offset);
    offset += chunk.byteLength;
  }
  return out;
}

export async function readF32(device: GPUDevice, tensor: GpuTensor): Promise<Float32Array> {
  const bytes = await readTensorBytes(device, tensor);
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}
