import { setTimeout as sleep } from 'node:timers/promises';
import {
  decide,
  heartbeatIsStale,
  viewsByInstance,
  type Decision,
  type FleetObservation,
  type NodeRef,
  type Observations,
  type Policy,
  type ProbeResult,
} from './core';
import { errorMessage } from './errors';
import { observeRegistry, type Registry } from './registry';
import {
  countActions,
  decisionLine,
  metricsLine,
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

/** GET /live on host:port. */
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
}

export interface RunSummary {
  readonly cycles: number;
  readonly flags: number;
  readonly suspects: number;
  readonly holds: number;
  /** Cycles that failed to observe, plus flags that could not be applied. */
  readonly errors: number;
}

/**
 * One watchdog: each cycle observes (registry, fleets, `/live` of the nodes whose heartbeat is not
 * fresh), decides with the pure core, flags, and writes one line per decision and one metrics line.
 */
export class Watchdog {
  /** Flagged by this watchdog; kept until the instance leaves its group. */
  private readonly flagged = new Set<string>();
  private cycles = 0;
  private readonly sink: LineSink;
  private readonly clock: () => number;

  constructor(private readonly options: WatchdogOptions) {
    this.sink = options.sink ?? stdoutSink;
    this.clock = options.clock ?? Date.now;
  }

  async cycle(): Promise<CycleReport> {
    const started = this.clock();
    const cycle = ++this.cycles;
    const decisions = decide(await this.observe(started), this.options.policy);
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

  /** Runs cycles every `cycleMs` until told to stop; a failed cycle is logged and counted, never fatal. */
  async run(options: RunOptions): Promise<RunSummary> {
    const summary = { cycles: 0, flags: 0, suspects: 0, holds: 0, errors: 0 };
    const { signal, shouldContinue = () => true } = options;
    while (!signal?.aborted && shouldContinue()) {
      const started = this.clock();
      try {
        const report = await this.cycle();
        summary.flags += report.counts.flag;
        summary.suspects += report.counts.suspect;
        summary.holds += report.counts.hold;
        summary.errors += report.failedFlags;
      } catch (err) {
        summary.errors += 1;
        this.sink({
          level: 'error',
          msg: 'watchdog cycle failed',
          cycle: this.cycles,
          error: errorMessage(err),
        });
      }
      summary.cycles += 1;
      const wait = options.cycleMs - (this.clock() - started);
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
    return summary;
  }

  private async observe(now: number): Promise<Observations> {
    const [registry, snapshot] = await Promise.all([
      observeRegistry(this.options.registry),
      this.options.fleet.observe(),
    ]);
    const members = new Set(snapshot.fleets.flatMap((f) => f.instances.map((i) => i.instanceId)));
    for (const id of this.flagged) if (!members.has(id)) this.flagged.delete(id);
    const probes = registry.reachable
      ? await this.probeStale(viewsByInstance(registry.nodes), snapshot.fleets)
      : new Map<string, ProbeResult>();
    return { now, registry, ...snapshot, probes, flagged: this.flagged };
  }

  /** Probes /live of every instance whose heartbeat is not fresh: the second, independent signal. */
  private async probeStale(
    views: ReturnType<typeof viewsByInstance>,
    fleets: readonly FleetObservation[],
  ): Promise<Map<string, ProbeResult>> {
    const targets = fleets.flatMap((fleet) =>
      fleet.instances.flatMap((instance) => {
        const view = views.get(instance.instanceId);
        const address = view?.identity.address ?? instance.liveAddress;
        return heartbeatIsStale(view) && address ? [{ id: instance.instanceId, address }] : [];
      }),
    );
    const results = await Promise.all(
      targets.map(async ({ id, address }) => [id, await this.options.probe(address)] as const),
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
