import { formatBytes } from '../engine/errors.ts';
import type { LoadReport } from '../model/base_weights.ts';

/** The load report as the CLI prints it: GPU bytes by category and the NF4 density. */
export function formatLoadReport(report: LoadReport): string {
  const lines = [`parameters: ${report.parameters.toLocaleString('en-US')}`];
  if (report.quantizedParameters) {
    lines.push(
      `NF4 base: ${report.quantizedParameters.toLocaleString('en-US')} parameters in ${formatBytes(report.quantizedBytes)}, ` +
        `${report.bitsPerParameter.toFixed(3)} bits/parameter (${report.source})`,
    );
  }
  const gpu = Object.entries(report.gpuBytes)
    .filter(([, bytes]) => bytes > 0)
    .map(([category, bytes]) => `${category} ${formatBytes(bytes)}`);
  lines.push(`GPU memory: ${gpu.join(', ') || 'none'}`);
  lines.push(`largest host buffer while loading: ${formatBytes(report.peakHostBytes)}`);
  return `${lines.join('\n')}\n`;
}
