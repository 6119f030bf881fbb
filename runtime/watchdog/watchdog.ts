import { setTimeout as sleep } from 'node:timers/promises';
import {
  decide,
  DEFAULT_POLICY,
  probeTargets,
  viewsByInstance,
  type Decision,
  type FleetObservation,
  type NodeRef,
  type Observations,
  type Policy,
  type ProbeResult,
  type ProbeTarget,
  type RegistryObservation,
} from './core';
import { errorMessage } from './errors';
import type { RunLock } from './lock';
import { observeRegistry, type Registry } from './registry';
import {
  countActions,
  decisionLine,
  metricsLine,
  skippedRunLine,
  stdoutSink,
  type ActionCounts,
  type LineSink,
  type Outcome,
} from './telemetry';

export interface FleetSnapshot {
  readonly fleets: readonly FleetObservation[];
  /** The ElastiCache replication group's status, where there is one. */
  readonly replicationGroupStatus?: string;
}

/** Where the watchdog reads the fleets and acts on them: Auto Scaling on AWS, the runner locally. */
export interface Fleet {
  observe(): Promise<FleetSnapshot>;
  /** Marks the instance Unhealthy, so that its group replaces it. */
  markUnhealthy(node: NodeRef): Promise<void>;
}

/** GET /live on host:port: a registered node's address, or an overdue boot's private address and fleet port. */
export type LiveProbe = (address: string) => Promise<ProbeResult>;

export interface WatchdogOptions {
  readonly registry: Registry;
  readonly fleet: Fleet;
  readonly probe: LiveProbe;
  /** @default DEFAULT_POLICY */
  readonly policy?: Policy;
  /** Dimensions of the cycle metrics, e.g. `{ FunctionName }`. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** @default one JSON line per record on stdout */
  readonly sink?: LineSink;
  /** @default Date.now */
  readonly clock?: () => number;
}

export interface CycleReport {
  readonly cycle: number;
  readonly decisions: readonly Decision[];
  readonly counts: ActionCounts;
  /** Flags whose markUnhealthy call failed. */
  readonly failedFlags: number;
  readonly durationMs: number;
}

export interface RunOptions {
  /** Time from the start of one cycle to the start of the next. */
  readonly cycleMs: number;
  /** Asked before each cycle; false ends the run (the Lambda's remaining time). */
  readonly shouldContinue?: () => boolean;
  /** Ends the run, also while it waits for the next cycle. */
  readonly signal?: AbortSignal;
  /**
   * Taken before the first cycle, for `ttlMs()`; a run that finds it held by another ends at once.
   * @default - no lock: one process watches (the local cluster)
   */
  readonly lock?: { readonly runLock: RunLock; readonly ttlMs: () => number };
}

export interface RunSummary {
  readonly cycles: number;
  readonly flags: number;
  readonly suspects: number;
  readonly holds: number;
  /** Cycles that failed to observe, plus flags that could not be applied. */
  readonly errors: number;
  /** Present when the run did nothing because another run holds the lock. */
  readonly skipped?: 'lock held';
}

type Totals = { -readonly [K in Exclude<keyof RunSummary, 'skipped'>]: RunSummary[K] };

/**
 * One watchdog: each cycle observes (registry, fleets, `/live` of the registered nodes whose heartbeat
 * expired and of the overdue boots), decides with the pure core, flags, and writes one line per
 * decision and one metrics line.
 */
export class Watchdog {
  /** Flagged by this watchdog; kept until the instance leaves its group. */
  private readonly flagged = new Set<string>();
  private cycles = 0;
  /** Why the run lock could not be taken; while set, cycles hold as with an unreachable registry. */
  private lockError?: string;
  private readonly sink: LineSink;
  private readonly clock: () => number;
  private readonly policy: Policy;

  constructor(private readonly options: WatchdogOptions) {
    this.sink = options.sink ?? stdoutSink;
    this.clock = options.clock ?? Date.now;
    this.policy = options.policy ?? DEFAULT_POLICY;
  }

  async cycle(): Promise<CycleReport> {
    const started = this.clock();
    const cycle = ++this.cycles;
    const decisions = decide(await this.observe(started), this.policy);
    let failedFlags = 0;
    for (const decision of decisions) {
      const outcome = decision.action === 'flag' ? await this.flag(decision.node) : undefined;
      if (outcome?.applied === false) failedFlags += 1;
      this.sink(decisionLine(cycle, decision, outcome));
    }
    const counts = countActions(decisions);
    const durationMs = this.clock() - started;
    this.sink(metricsLine(this.options.dimensions, counts, durationMs, started));
    return { cycle, decisions, counts, failedFlags, durationMs };
  }

  /** Runs cycles every `cycleMs` until told to stop, or not at all if another run holds the lock. */
  async run(options: RunOptions): Promise<RunSummary> {
    const summary: Totals = { cycles: 0, flags: 0, suspects: 0, holds: 0, errors: 0 };
    const { signal, shouldContinue = () => true, lock } = options;
    let locked = false;
    try {
      while (!signal?.aborted && shouldContinue()) {
        const started = this.clock();
        if (lock && !locked) {
          const taken = await this.takeLock(lock.runLock, lock.ttlMs());
          if (taken === 'held') {
            this.sink(skippedRunLine(this.options.dimensions, started));
            return { ...summary, skipped: 'lock held' };
          }
          locked = taken === 'taken';
        }
        await this.runCycle(summary);
        const wait = options.cycleMs - (this.clock() - started);
        if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      if (lock && locked) {
        await lock.runLock.release().catch((err: unknown) =>
          // It expires on its own; until then the next run skips.
          this.sink({ level: 'warn', msg: 'watchdog run lock not released', error: errorMessage(err) }),
        );
      }
    }
    return summary;
  }

  /** `held`: another run has it. `unknown`: Redis did not answer; this cycle holds and the next asks again. */
  private async takeLock(runLock: RunLock, ttlMs: number): Promise<'taken' | 'held' | 'unknown'> {
    try {
      const taken = await runLock.take(ttlMs);
      this.lockError = undefined;
      return taken ? 'taken' : 'held';
    } catch (err) {
      this.lockError = `run lock: ${errorMessage(err)}`;
      return 'unknown';
    }
  }

  /** One cycle of a run, added to its totals; a failed cycle is logged and counted, never fatal. */
  private async runCycle(totals: Totals): Promise<void> {
    try {
      const report = await this.cycle();
      totals.flags += report.counts.flag;
      totals.suspects += report.counts.suspect;
      totals.holds += report.counts.hold;
      totals.errors += report.failedFlags;
    } catch (err) {
      totals.errors += 1;
      this.sink({
        level: 'error',
        msg: 'watchdog cycle failed',
        cycle: this.cycles,
        error: errorMessage(err),
      });
    }
    totals.cycles += 1;
  }

  private async observe(now: number): Promise<Observations> {
    const unlocked: RegistryObservation | undefined = this.lockError
      ? { reachable: false, error: `registry unreachable: ${this.lockError}` }
      : undefined;
    const [registry, snapshot] = await Promise.all([
      unlocked ?? observeRegistry(this.options.registry),
      this.options.fleet.observe(),
    ]);
    const members = new Set(snapshot.fleets.flatMap((f) => f.instances.map((i) => i.instanceId)));
    for (const id of this.flagged) if (!members.has(id)) this.flagged.delete(id);
    const probes = registry.reachable
      ? await this.probeAll(probeTargets(snapshot.fleets, viewsByInstance(registry.nodes), now, this.policy))
      : new Map<string, ProbeResult>();
    return { now, registry, ...snapshot, probes, flagged: this.flagged };
  }

  /** GET /live of each target, in parallel: the second, independent signal. */
  private async probeAll(targets: readonly ProbeTarget[]): Promise<Map<string, ProbeResult>> {
    const results = await Promise.all(
      targets.map(
        async ({ instanceId, address }) => [instanceId, await this.options.probe(address)] as const,
      ),
    );
    return new Map(results);
  }

  private async flag(node: NodeRef): Promise<Outcome> {
    try {
      await this.options.fleet.markUnhealthy(node);
      this.flagged.add(node.instanceId);
      return { applied: true };
    } catch (err) {
      return { applied: false, error: errorMessage(err) };
    }
  }
}
