import type { NodeView } from '../../../runtime/contract/registry';
import { DEFAULT_TIMINGS } from '../../../runtime/contract/timings';
import {
  DEFAULT_POLICY,
  type FleetObservation,
  type NodeRef,
  type Policy,
} from '../../../runtime/watchdog/core';
import type { RunLock } from '../../../runtime/watchdog/lock';
import { Watchdog, type Fleet, type FleetSnapshot } from '../../../runtime/watchdog/watchdog';
import { fleet, instance, NOW, view } from './fixtures';

/** A fleet whose snapshot the test sets, recording what was flagged. */
class FakeFleet implements Fleet {
  readonly flagged: NodeRef[] = [];
  failFlags = false;
  constructor(public snapshot: FleetSnapshot | Error) {}
  async observe(): Promise<FleetSnapshot> {
    if (this.snapshot instanceof Error) throw this.snapshot;
    return this.snapshot;
  }
  async markUnhealthy(node: NodeRef): Promise<void> {
    if (this.failFlags) throw new Error('ValidationError: instance is terminating');
    this.flagged.push(node);
  }
}

const masters: FleetObservation = fleet('master', [instance('i-a'), instance('i-b'), instance('i-c')]);

function setup(
  nodes: NodeView[] | Error,
  snapshot: FleetSnapshot | Error = { fleets: [masters] },
  policy?: Policy,
) {
  const lines: Record<string, unknown>[] = [];
  const fakeFleet = new FakeFleet(snapshot);
  const probe = jest.fn(async (address: string) =>
    address.endsWith(':8080') ? ({ ok: false, error: 'ECONNREFUSED' } as const) : ({ ok: true } as const),
  );
  const registry = { nodes: jest.fn(async () => (nodes instanceof Error ? Promise.reject(nodes) : nodes)) };
  const watchdog = new Watchdog({
    registry,
    fleet: fakeFleet,
    probe,
    policy,
    dimensions: { FunctionName: 'wd' },
    sink: (line) => lines.push(line),
    clock: () => NOW,
  });
  return { watchdog, fleet: fakeFleet, probe, registry, lines };
}

const crashedC = () => [view('i-a'), view('i-b'), view('i-c', 4_000)];

describe('Watchdog.cycle', () => {
  test('probes only the stale node, flags it, writes one line per decision and one metrics line', async () => {
    const { watchdog, fleet: f, probe, lines } = setup(crashedC());

    const report = await watchdog.cycle();

    expect(probe.mock.calls).toEqual([[view('i-c').identity.address]]);
    expect(f.flagged).toEqual([
      { role: 'master', groupName: 'masters', instanceId: 'i-c', nodeId: 'node-i-c' },
    ]);
    expect(report.counts).toEqual({ flag: 1, suspect: 0, ignore: 0, hold: 0 });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'watchdog decision',
        cycle: 1,
        action: 'flag',
        node: expect.objectContaining({ instanceId: 'i-c' }),
        signals: [
          expect.objectContaining({ kind: 'heartbeat-expired' }),
          expect.objectContaining({ kind: 'live-failed' }),
        ],
        applied: true,
      }),
      {
        _aws: {
          Timestamp: NOW,
          CloudWatchMetrics: [
            {
              Namespace: 'RtcHa/Watchdog',
              Dimensions: [['FunctionName']],
              Metrics: [
                { Name: 'Flags', Unit: 'Count' },
                { Name: 'Suspects', Unit: 'Count' },
                { Name: 'Holds', Unit: 'Count' },
                { Name: 'CycleDuration', Unit: 'Milliseconds' },
              ],
            },
          ],
        },
        FunctionName: 'wd',
        Flags: 1,
        Suspects: 0,
        Holds: 0,
        CycleDuration: 0,
      },
    ]);
  });

  test('a node it flagged is not flagged again while its group still reports it Healthy', async () => {
    const { watchdog, fleet: f } = setup(crashedC());

    await watchdog.cycle();
    const second = await watchdog.cycle();

    expect(f.flagged).toHaveLength(1);
    expect(second.decisions).toEqual([
      expect.objectContaining({ action: 'ignore', reason: 'already-unhealthy' }),
    ]);
  });

  /** Masters i-a and i-b registered and fresh; i-c never registered, launched `launchedAgoMs` ago. */
  const withBoot = (launchedAgoMs: number, port = 8080): FleetSnapshot => ({
    fleets: [
      {
        ...fleet('master', [
          instance('i-a'),
          instance('i-b'),
          instance('i-c', { launchedAt: NOW - launchedAgoMs, privateAddress: '10.0.2.9' }),
        ]),
        port,
      },
    ],
  });
  const BOOT_DEADLINE_MS = DEFAULT_TIMINGS.bootDeadlineSeconds * 1000;

  test('a node that never registered, within its boot deadline, is neither probed nor flagged', async () => {
    const { watchdog, probe, fleet: f } = setup([view('i-a'), view('i-b')], withBoot(BOOT_DEADLINE_MS));

    const report = await watchdog.cycle();

    expect(probe).not.toHaveBeenCalled();
    expect(f.flagged).toEqual([]);
    expect(report.decisions).toEqual([
      expect.objectContaining({ action: 'ignore', reason: 'not-registered' }),
    ]);
  });

  test('an overdue boot is probed at its private address and port; /live refused -> flagged, logged and counted', async () => {
    const {
      watchdog,
      probe,
      fleet: f,
      lines,
    } = setup([view('i-a'), view('i-b')], withBoot(BOOT_DEADLINE_MS + 5_000));

    const report = await watchdog.cycle();

    expect(probe.mock.calls).toEqual([['10.0.2.9:8080']]);
    expect(f.flagged).toEqual([{ role: 'master', groupName: 'masters', instanceId: 'i-c' }]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'watchdog decision',
        action: 'flag',
        node: expect.objectContaining({ instanceId: 'i-c', nodeId: undefined }),
        signals: [
          { kind: 'boot-overdue', detail: 'never registered, launched 1805 s ago (boot deadline 1800 s)' },
          { kind: 'live-failed', detail: 'ECONNREFUSED' },
        ],
        applied: true,
      }),
      expect.objectContaining({ Flags: 1, Suspects: 0, Holds: 0 }),
    ]);
    expect(report.counts).toEqual({ flag: 1, suspect: 0, ignore: 0, hold: 0 });
  });

  test('an overdue boot whose /live answers is only a suspect: logged and counted, not flagged', async () => {
    const {
      watchdog,
      probe,
      fleet: f,
      lines,
    } = setup([view('i-a'), view('i-b')], withBoot(BOOT_DEADLINE_MS + 5_000, 9090));

    await watchdog.cycle();

    expect(probe.mock.calls).toEqual([['10.0.2.9:9090']]);
    expect(f.flagged).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        action: 'suspect',
        signals: [expect.objectContaining({ kind: 'boot-overdue' })],
      }),
      expect.objectContaining({ Flags: 0, Suspects: 1, Holds: 0 }),
    ]);
  });

  test("the watchdog's own policy sets the boot deadline, for the probe and the decision", async () => {
    const policy = { ...DEFAULT_POLICY, master: { ...DEFAULT_POLICY.master, bootDeadlineMs: 600_000 } };
    const { watchdog, probe, fleet: f } = setup([view('i-a'), view('i-b')], withBoot(700_000), policy);

    await watchdog.cycle();

    expect(probe.mock.calls).toEqual([['10.0.2.9:8080']]);
    expect(f.flagged).toEqual([expect.objectContaining({ instanceId: 'i-c' })]);
  });

  test('an unreachable registry is a hold: nothing probed, nothing flagged, the hold counted', async () => {
    const { watchdog, probe, fleet: f, lines } = setup(new Error('Connection is closed.'));

    const report = await watchdog.cycle();

    expect(report.decisions).toEqual([
      { action: 'hold', rail: 'registry-unreachable', detail: 'registry unreachable: Connection is closed.' },
    ]);
    expect(probe).not.toHaveBeenCalled();
    expect(f.flagged).toEqual([]);
    expect(lines[1]).toMatchObject({ Holds: 1, Flags: 0 });
  });

  test('a flag the fleet refuses is logged as not applied and counted', async () => {
    const { watchdog, fleet: f, lines } = setup(crashedC());
    f.failFlags = true;

    const report = await watchdog.cycle();

    expect(report.failedFlags).toBe(1);
    expect(lines[0]).toMatchObject({
      action: 'flag',
      applied: false,
      error: 'ValidationError: instance is terminating',
    });
  });
});

describe('Watchdog.run', () => {
  test('a failing cycle is logged and counted, the run goes on until told to stop', async () => {
    const { watchdog, fleet: f, lines } = setup(crashedC(), new Error('Rate exceeded'));
    let cycles = 0;

    const started = Date.now();
    const summary = await watchdog.run({
      cycleMs: 30,
      shouldContinue: () => {
        if (cycles === 1) f.snapshot = { fleets: [masters] };
        return cycles++ < 3;
      },
    });

    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    expect(summary).toEqual({ cycles: 3, flags: 1, suspects: 0, holds: 0, errors: 1 });
    expect(lines[0]).toEqual({
      level: 'error',
      msg: 'watchdog cycle failed',
      cycle: 1,
      error: 'Rate exceeded',
    });
  });

  test('an abort ends the run while it waits for the next cycle', async () => {
    const { watchdog } = setup(crashedC());
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);

    const started = Date.now();
    const summary = await watchdog.run({ cycleMs: 60_000, signal: abort.signal });

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(summary.cycles).toBe(1);
  });
});

describe('Watchdog.run with a run lock', () => {
  /** A lock whose answers the test scripts: true taken, false held elsewhere, an Error for Redis away. */
  function scriptedLock(...answers: (boolean | Error)[]) {
    const lock: RunLock & { ttls: number[]; released: number } = {
      ttls: [],
      released: 0,
      take: async (ttlMs) => {
        lock.ttls.push(ttlMs);
        const answer = answers.shift() ?? true;
        if (answer instanceof Error) throw answer;
        return answer;
      },
      release: async () => void (lock.released += 1),
    };
    return lock;
  }
  const cycles = (n: number) => {
    let left = n;
    return () => left-- > 0;
  };

  test('takes the lock for the run, then releases it', async () => {
    const { watchdog, fleet: f } = setup(crashedC());
    const lock = scriptedLock(true);

    const summary = await watchdog.run({
      cycleMs: 1,
      shouldContinue: cycles(2),
      lock: { runLock: lock, ttlMs: () => 65_000 },
    });

    expect(summary).toEqual({ cycles: 2, flags: 1, suspects: 0, holds: 0, errors: 0 });
    expect(f.flagged).toHaveLength(1);
    expect(lock.ttls).toEqual([65_000]);
    expect(lock.released).toBe(1);
  });

  test('a lock held by another run: skipped at once, nothing observed, one SkippedRuns metric', async () => {
    const { watchdog, registry, fleet: f, lines } = setup(crashedC());
    const lock = scriptedLock(false);

    const summary = await watchdog.run({
      cycleMs: 1,
      shouldContinue: cycles(3),
      lock: { runLock: lock, ttlMs: () => 1 },
    });

    expect(summary).toEqual({ cycles: 0, flags: 0, suspects: 0, holds: 0, errors: 0, skipped: 'lock held' });
    expect(registry.nodes).not.toHaveBeenCalled();
    expect(f.flagged).toEqual([]);
    expect(lock.released).toBe(0);
    expect(lines).toEqual([
      expect.objectContaining({ FunctionName: 'wd', SkippedRuns: 1, _aws: expect.anything() }),
    ]);
  });

  test('Redis away when the lock is asked for: the cycle holds, the next one takes the lock and judges', async () => {
    const { watchdog, registry, fleet: f, lines } = setup(crashedC());
    const lock = scriptedLock(new Error('Connection is closed.'), true);

    const summary = await watchdog.run({
      cycleMs: 1,
      shouldContinue: cycles(2),
      lock: { runLock: lock, ttlMs: () => 1 },
    });

    expect(summary).toEqual({ cycles: 2, flags: 1, suspects: 0, holds: 1, errors: 0 });
    expect(lines[0]).toMatchObject({
      action: 'hold',
      rail: 'registry-unreachable',
      detail: 'registry unreachable: run lock: Connection is closed.',
    });
    expect(registry.nodes).toHaveBeenCalledTimes(1);
    expect(f.flagged).toHaveLength(1);
    expect(lock.released).toBe(1);
  });
});
