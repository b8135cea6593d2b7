import type { CliIo } from './io.ts';
import type { StepMetrics } from '../train/trainer.ts';

// The live training line on stderr: step/total, loss, lr, tokens/s, ETA. Rewritten in place on a
// terminal; one line per step otherwise (logs, CI).

export function progressLine(m: StepMetrics, tokensSoFar: number): string {
  const width = 20;
  const done = Math.round((width * m.step) / m.totalSteps);
  const bar = `${'#'.repeat(done)}${'.'.repeat(width - done)}`;
  const perStep = m.elapsedS / m.step;
  const eta = perStep * (m.totalSteps - m.step);
  const tps = m.elapsedS > 0 ? tokensSoFar / m.elapsedS : 0;
  const loss = m.skipped ? 'skipped' : m.loss.toFixed(4);
  return `[${bar}] step ${m.step}/${m.totalSteps}  loss ${loss}  lr ${m.lr.toExponential(2)}  ${tps.toFixed(0)} tok/s  ETA ${duration(eta)}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function progressPrinter(io: CliIo, tty: boolean): { step(m: StepMetrics): void; line(text: string): void; end(): void } {
  let tokens = 0;
  let open = false;
  const clear = () => {
    if (open) io.err('\n');
    open = false;
  };
  return {
    step(m) {
      tokens += m.tokens;
      if (tty) {
        io.err(`\r${progressLine(m, tokens)}\x1b[K`);
        open = true;
      } else io.err(`${progressLine(m, tokens)}\n`);
    },
    line(text) {
      clear();
      io.err(`${text}\n`);
    },
    end: clear,
  };
}
