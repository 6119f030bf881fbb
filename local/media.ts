/**
 * What the local cluster needs to run Janus beside each media agent: an address Janus gathers ICE
 * on (never loopback), an RTP port range of its own per agent, and a folder for Janus's
 * configuration that Janus can reach when it runs as `nobody` (an agent started as root).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The first non-internal IPv4 address of this machine: Janus never gathers candidates on loopback. */
export function defaultIceAddress(
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string | undefined {
  for (const addresses of Object.values(interfaces)) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}

/** Whether `binary` runs at all (Debian's package `janus`). */
export function janusInstalled(binary = 'janus'): boolean {
  return !spawnSync(binary, ['--version'], { stdio: 'ignore' }).error;
}

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Disjoint UDP ranges for the agents on one machine: two Janus instances in one range would take
 * each other's ports. A range is taken at launch and given back when its agent's process is gone.
 */
export class RtpRanges {
  private readonly used = new Set<number>();

  constructor(
    private readonly first = 40_000,
    private readonly size = 1_000,
    private readonly count = 10,
  ) {}

  take(): PortRange {
    for (let slot = 0; slot < this.count; slot += 1) {
      if (this.used.has(slot)) continue;
      this.used.add(slot);
      const min = this.first + slot * this.size;
      return { min, max: min + this.size - 1 };
    }
    throw new Error(`no free RTP port range: ${this.count} media agents run already`);
  }

  release(range: PortRange): void {
    this.used.delete((range.min - this.first) / this.size);
  }
}

/**
 * A new folder (mode 0711) that every user can pass through, for Janus's configuration: Janus runs
 * as `nobody` under a root agent, and cannot enter a private (0700) temp folder such as the one the
 * media tests run with; then it goes under /tmp.
 */
export function reachableTempDir(prefix: string): string {
  const base = everyoneCanEnter(tmpdir()) ? tmpdir() : '/tmp';
  const dir = mkdtempSync(join(base, prefix));
  chmodSync(dir, 0o711);
  return dir;
}

function everyoneCanEnter(path: string): boolean {
  for (let at = path; ; at = dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return false;
    if (dirname(at) === at) return true;
  }
}

/**
 * SIGKILLs every Janus whose configuration lies under `dir` (from /proc, Linux): a media agent
 * killed with SIGKILL cannot stop its Janus, which would keep its ports and run on as an orphan.
 */
export function killJanusUnder(dir: string): void {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (args[1] === '-F' && args[2]?.startsWith(`${dir}/`) && /(^|\/)janus$/.test(args[0])) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

/** One agent's Janus settings, and what to do once the agent's process is gone. */
export interface AgentMedia {
  readonly env: Readonly<Record<string, string>>;
  release(): void;
}

/**
 * Janus for every media agent of one cluster: one ICE address, disjoint RTP ranges, and each
 * agent's Janus configuration in a folder of its own under one reachable folder.
 */
export class ClusterMedia {
  readonly dir = reachableTempDir('rtc-ha-janus-');
  private readonly ranges = new RtpRanges();

  constructor(readonly iceAddress: string) {}

  forAgent(nodeId: string): AgentMedia {
    const range = this.ranges.take();
    // The agent writes Janus's configuration under its TMPDIR (runtime/media/media-node.ts).
    const tmp = join(this.dir, nodeId);
    mkdirSync(tmp, { recursive: true });
    chmodSync(tmp, 0o711);
    return {
      env: {
        RTC_MEDIA_ICE_ADDRESS: this.iceAddress,
        // Where clients send media, as the registry tells them (the default is 127.0.0.1, the advertise host).
        RTC_PUBLIC_ADDRESS: this.iceAddress,
        RTC_MEDIA_PORT_MIN: String(range.min),
        RTC_MEDIA_PORT_MAX: String(range.max),
        TMPDIR: tmp,
      },
      release: () => {
        killJanusUnder(tmp);
        this.ranges.release(range);
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  }

  remove(): void {
    killJanusUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
