/** What the kernel tells about the Janus process (Linux /proc): its CPU time and its open-files limit. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * Clock ticks per second of /proc's CPU times: USER_HZ, fixed at 100 in the kernel's ABI on x86-64
 * and arm64 whatever the kernel's internal HZ (Node has no sysconf to ask).
 */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of a process in ticks, from the text of /proc/<pid>/stat. */
export function cpuTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime and stime, fields 14 and 15
}

/** The soft limit on open files from the text of /proc/<pid>/limits (Infinity when unlimited). */
export function openFilesLimit(limits: string): number {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

export function readOpenFilesLimit(pid: number): number {
  return openFilesLimit(readFileSync(`/proc/${pid}/limits`, 'utf8'));
}

/** A process's CPU use between two calls, as a share of the whole machine (0..1), like NodeLoad.cpu. */
export class ProcessCpuSampler {
  private last: { ticks: number; at: number };

  constructor(
    private readonly pid: number,
    private readonly cores = cpus().length,
  ) {
    this.last = this.read();
  }

  /** Since the previous call (or construction); 0 once the process is gone. */
  sample(): number {
    let now: { ticks: number; at: number };
    try {
      now = this.read();
    } catch {
      return 0;
    }
    const seconds = (now.at - this.last.at) / 1000;
    const used = (now.ticks - this.last.ticks) / TICKS_PER_SECOND;
    this.last = now;
    return seconds > 0 ? Math.min(1, Math.max(0, used / seconds / this.cores)) : 0;
  }

  private read(): { ticks: number; at: number } {
    return { ticks: cpuTicks(readFileSync(`/proc/${this.pid}/stat`, 'utf8')), at: performance.now() };
  }
}
