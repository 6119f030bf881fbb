import { cpus } from 'node:os';

/**
 * Machine CPU use (0..1) between two calls, from the kernel's per-core counters: what an Auto
 * Scaling policy on CPU sees, rather than only this process's share.
 */
export class CpuSampler {
  private last = totals();

  sample(): number {
    const now = totals();
    const busy = now.busy - this.last.busy;
    const all = now.all - this.last.all;
    this.last = now;
    return all > 0 ? Math.min(1, Math.max(0, busy / all)) : 0;
  }
}

function totals(): { busy: number; all: number } {
  let busy = 0;
  let all = 0;
  for (const { times } of cpus()) {
    const sum = times.user + times.nice + times.sys + times.irq + times.idle;
    all += sum;
    busy += sum - times.idle;
  }
  return { busy, all };
}
