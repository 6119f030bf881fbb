import type { NodeView } from '../../../runtime/contract/registry';
import { DEFAULT_TIMINGS } from '../../../runtime/contract/timings';
import {
  decide,
  DEFAULT_POLICY,
  probeTargets,
  viewsByInstance,
  type Decision,
  type FleetObservation,
  type InstanceObservation,
  type Observations,
  type Policy,
} from '../../../runtime/watchdog/core';
import { brief, fleet, instance, live, NOW, observations, view } from './fixtures';

const masters3 = fleet('master', [instance('i-a'), instance('i-b'), instance('i-c')]);
const masters5 = fleet(
  'master',
  ['i-a', 'i-b', 'i-c', 'i-d', 'i-e'].map((id) => instance(id)),
);
const fresh = (...ids: string[]) => ids.map((id) => view(id));
const failing = (...ids: string[]) => new Map(ids.map((id) => [id, live(false)]));

interface Third {
  /** i-c's registry entries. @default one, 4 s old (expired) */
  readonly views?: readonly NodeView[];
  readonly instance?: Partial<InstanceObservation>;
  /** i-c's /live answer. @default not probed */
  readonly live?: boolean;
}

/** Masters i-a and i-b healthy; i-c as described. */
function third(c: Third, extra: Partial<Observations> = {}): Observations {
  return observations({
    fleets: [fleet('master', [instance('i-a'), instance('i-b'), instance('i-c', c.instance)])],
    registry: { reachable: true, nodes: [...fresh('i-a', 'i-b'), ...(c.views ?? [view('i-c', 4_000)])] },
    probes: c.live === undefined ? new Map() : new Map([['i-c', live(c.live)]]),
    ...extra,
  });
}

/** Five masters; i-d and i-e crashed, i-e first; `laterMs` after the first cycle, i-e as its group reports it. */
function twoCrashed(laterMs: number, eHealth: InstanceObservation['healthStatus']): Observations {
  return observations({
    fleets: [
      fleet('master', [...masters5.instances.slice(0, 4), instance('i-e', { healthStatus: eHealth })]),
    ],
    registry: {
      reachable: true,
      nodes: [...fresh('i-a', 'i-b', 'i-c'), view('i-d', 4_000 + laterMs), view('i-e', 9_000 + laterMs)],
    },
    probes: failing('i-d', 'i-e'),
  });
}

/**
 * A node that never registered is judged only once its boot is overdue: DEFAULT_TIMINGS.bootDeadlineSeconds
 * (1800 s) after launch, twice CloudFormation's 15-minute wait for its readiness signal.
 */
function bootCases(): Case[] {
  const booting = (launchedAgoMs: number, c: Third) =>
    third({ ...c, instance: { launchedAt: NOW - launchedAgoMs, ...c.instance } });
  const DEADLINE_MS = DEFAULT_TIMINGS.bootDeadlineSeconds * 1000;
  return [
    {
      name: 'boot: never registered, 30 s after launch, /live failing -> ignore not-registered',
      obs: booting(30_000, { views: [], live: false }),
      expected: ['ignore not-registered i-c'],
    },
    {
      name: 'boot: never registered, 500 s after launch (past the grace), /live failing, target unhealthy -> ignore',
      obs: booting(500_000, { views: [], live: false, instance: { targetHealth: 'unhealthy' } }),
      expected: ['ignore not-registered i-c'],
    },
    {
      name: 'boot: never registered, at the deadline to the millisecond, every second signal -> still ignored',
      obs: booting(DEADLINE_MS, {
        views: [],
        live: false,
        instance: { targetHealth: 'unhealthy', instanceState: 'stopped' },
      }),
      expected: ['ignore not-registered i-c'],
    },
    {
      name: 'boot: never registered, past the deadline, /live failing -> flag',
      obs: booting(DEADLINE_MS + 1, { views: [], live: false }),
      expected: ['flag i-c'],
    },
    {
      name: 'boot: never registered, past the deadline, /live answering -> suspect (one signal only)',
      obs: booting(DEADLINE_MS + 60_000, { views: [], live: true }),
      expected: ['suspect i-c'],
    },
    {
      name: 'boot: never registered, past the deadline, not probed (no address) -> suspect',
      obs: booting(DEADLINE_MS + 60_000, { views: [] }),
      expected: ['suspect i-c'],
    },
    {
      name: 'boot: never registered, past the deadline, target unhealthy -> flag',
      obs: booting(DEADLINE_MS + 60_000, { views: [], instance: { targetHealth: 'unhealthy' } }),
      expected: ['flag i-c'],
    },
    {
      name: 'boot: never registered an hour after launch, instance stopped -> flag',
      obs: booting(3_600_000, { views: [], instance: { instanceState: 'stopped' } }),
      expected: ['flag i-c'],
    },
    {
      name: 'boot: never registered, unknown launch time, /live failing -> never overdue',
      obs: third({ views: [], live: false, instance: { launchedAt: undefined } }),
      expected: ['ignore not-registered i-c'],
    },
    {
      name: 'boot: overdue but already Unhealthy -> not flagged twice',
      obs: booting(DEADLINE_MS + 60_000, { views: [], live: false, instance: { healthStatus: 'Unhealthy' } }),
      expected: ['ignore already-unhealthy i-c'],
    },
    {
      name: 'boot: overdue but leaving the group -> not judged',
      obs: booting(DEADLINE_MS + 60_000, { views: [], live: false, instance: { lifecycleState: 'Pending' } }),
      expected: ['ignore not-in-service i-c'],
    },
    {
      name: 'boot: a policy deadline shorter than the grace counts from the grace',
      policy: { ...DEFAULT_POLICY, master: { ...DEFAULT_POLICY.master, bootDeadlineMs: 10_000 } },
      obs: booting(60_000, { views: [], live: false }),
      expected: ['ignore not-registered i-c'],
    },
    {
      name: "boot: the policy's own deadline, once past it -> flag",
      policy: { ...DEFAULT_POLICY, master: { ...DEFAULT_POLICY.master, bootDeadlineMs: 600_000 } },
      obs: booting(600_001, { views: [], live: false }),
      expected: ['flag i-c'],
    },
    {
      name: 'boot: registered 595 s after launch, heartbeat fresh -> no decision',
      obs: booting(595_000, { views: fresh('i-c') }),
      expected: [],
    },
    {
      name: 'boot: registered after a slow boot, heartbeat since expired, /live failing -> flag',
      obs: booting(660_000, { live: false }),
      expected: ['flag i-c'],
    },
    {
      name: 'boot: registered, expired, /live answering -> suspect, as for any node',
      obs: booting(660_000, { live: true }),
      expected: ['suspect i-c'],
    },
    {
      name: 'boot: a booting node is no healthy member: 1 fresh of 3 -> the crashed one is held',
      obs: observations({
        fleets: [
          fleet('master', [instance('i-a'), instance('i-b'), instance('i-c', { launchedAt: NOW - 60_000 })]),
        ],
        registry: { reachable: true, nodes: [view('i-a'), view('i-b', 5_000)] },
        probes: failing('i-b'),
      }),
      expected: ['ignore not-registered i-c', 'hold majority i-b'],
    },
    {
      name: 'boot: an overdue boot with a failed probe, 1 fresh of 3 -> held by the majority rail',
      obs: observations({
        fleets: [masters3],
        registry: { reachable: true, nodes: [view('i-a'), view('i-b', 5_000)] },
        probes: failing('i-b', 'i-c'),
      }),
      expected: ['hold majority i-b', 'hold majority i-c'],
    },
    {
      name: 'boot: three of five masters never registered, all probes failing -> held by the majority rail',
      obs: observations({
        fleets: [masters5],
        registry: { reachable: true, nodes: fresh('i-a', 'i-b') },
        probes: failing('i-c', 'i-d', 'i-e'),
      }),
      expected: ['hold majority i-c', 'hold majority i-d', 'hold majority i-e'],
    },
    {
      name: 'boot: two overdue boots, limit 1 -> flag the oldest launch, hold the other',
      obs: observations({
        fleets: [
          fleet('master', [
            ...masters5.instances.slice(0, 3),
            instance('i-d', { launchedAt: NOW - DEADLINE_MS - 120_000 }),
            instance('i-e', { launchedAt: NOW - DEADLINE_MS - 60_000 }),
          ]),
        ],
        registry: { reachable: true, nodes: fresh('i-a', 'i-b', 'i-c') },
        probes: failing('i-d', 'i-e'),
      }),
      expected: ['flag i-d', 'hold max-flags-per-cycle i-e'],
    },
    {
      name: 'boot: a crashed node and an overdue boot, limit 1 -> the crash first, the boot next cycle',
      obs: observations({
        fleets: [masters5],
        registry: { reachable: true, nodes: [...fresh('i-a', 'i-b', 'i-c'), view('i-d', 4_000)] },
        probes: failing('i-d', 'i-e'),
      }),
      expected: ['flag i-d', 'hold max-flags-per-cycle i-e'],
    },
    {
      name: 'boot: overdue boots while the registry is unreachable -> hold the whole cycle',
      obs: observations({
        fleets: [masters3],
        registry: { reachable: false, error: 'ETIMEDOUT' },
        probes: failing('i-c'),
      }),
      expected: ['hold registry-unreachable'],
    },
    {
      name: 'boot: an overdue boot with a failed probe during a failover -> hold the whole cycle',
      obs: third(
        { views: [], live: false, instance: { launchedAt: NOW - DEADLINE_MS - 60_000 } },
        { replicationGroupStatus: 'modifying' },
      ),
      expected: ['hold replication-group-unavailable'],
    },
  ];
}

interface Case {
  readonly name: string;
  readonly obs: Observations;
  readonly expected: readonly string[];
  readonly policy?: Policy;
}

const cases: Case[] = [
  {
    name: 'a healthy fleet: no decision at all',
    obs: third({ views: fresh('i-c') }),
    expected: [],
  },
  { name: 'heartbeat stale and /live failing -> flag', obs: third({ live: false }), expected: ['flag i-c'] },
  {
    name: 'heartbeat stale but /live fine -> suspect, no flag',
    obs: third({ live: true }),
    expected: ['suspect i-c'],
  },
  {
    name: 'registry unreachable -> hold (never "all stale")',
    obs: observations({ fleets: [masters3], registry: { reachable: false, error: 'ETIMEDOUT' } }),
    expected: ['hold registry-unreachable'],
  },
  {
    name: 'replication group modifying -> hold, even with a node that has both signals',
    obs: third({ live: false }, { replicationGroupStatus: 'modifying' }),
    expected: ['hold replication-group-unavailable'],
  },
  {
    name: 'replication group available -> judged as usual',
    obs: third({ live: false }, { replicationGroupStatus: 'available' }),
    expected: ['flag i-c'],
  },
  {
    name: '3 of 3 masters stale with /live failing -> hold every one (majority rail; the hold metric alarms)',
    obs: observations({
      fleets: [masters3],
      registry: { reachable: true, nodes: ['i-a', 'i-b', 'i-c'].map((id) => view(id, 5_000)) },
      probes: failing('i-a', 'i-b', 'i-c'),
    }),
    expected: ['hold majority i-a', 'hold majority i-b', 'hold majority i-c'],
  },
  {
    name: '2 of 3 masters crashed -> hold: one healthy of three is no majority',
    obs: observations({
      fleets: [masters3],
      registry: { reachable: true, nodes: [view('i-a'), view('i-b', 5_000), view('i-c', 6_000)] },
      probes: failing('i-b', 'i-c'),
    }),
    expected: ['hold majority i-c', 'hold majority i-b'],
  },
  {
    name: 'two crashed at once with limit 1, cycle 1 -> flag the longest silent, hold the other',
    obs: twoCrashed(0, 'Healthy'),
    expected: ['flag i-e', 'hold max-flags-per-cycle i-d'],
  },
  {
    name: 'two crashed at once with limit 1, cycle 2 (the first now Unhealthy) -> flag the other',
    obs: twoCrashed(5_000, 'Unhealthy'),
    expected: ['ignore already-unhealthy i-e', 'flag i-d'],
  },
  {
    name: 'registered node in its grace period, heartbeat expired, /live failing -> ignore',
    obs: third({ instance: { launchedAt: NOW - 30_000 }, live: false }),
    expected: ['ignore grace-period i-c'],
  },
  {
    name: 'unknown launch time counts as just launched -> ignore',
    obs: third({ instance: { launchedAt: undefined }, live: false }),
    expected: ['ignore grace-period i-c'],
  },
  {
    name: 'stale registry node whose instance is not in the group -> ignore, never flagged',
    obs: third({ views: [view('i-c'), view('i-gone', 60_000)] }, { probes: failing('i-gone') }),
    expected: ['ignore not-in-fleet i-gone'],
  },
  {
    name: 'stale registry node of a role nobody watches -> nothing',
    obs: third({ views: [view('i-c'), view('i-m', 60_000, 'media')] }),
    expected: [],
  },
  {
    name: 'an instance already Unhealthy is not flagged twice',
    obs: third({ instance: { healthStatus: 'Unhealthy' }, live: false }),
    expected: ['ignore already-unhealthy i-c'],
  },
  {
    name: 'an instance this watchdog flagged, still reported Healthy by its group, is not flagged twice',
    obs: third({ live: false }, { flagged: new Set(['i-c']) }),
    expected: ['ignore already-unhealthy i-c'],
  },
  {
    name: 'an instance leaving the group (Terminating) -> ignore',
    obs: third({ instance: { lifecycleState: 'Terminating' }, live: false }),
    expected: ['ignore not-in-service i-c'],
  },
  ...bootCases(),
  {
    name: 'stale heartbeat and target unhealthy (no probe answer) -> flag',
    obs: third({ instance: { targetHealth: 'unhealthy' } }),
    expected: ['flag i-c'],
  },
  {
    name: 'stale heartbeat and instance stopped -> flag',
    obs: third({ instance: { instanceState: 'stopped' }, live: true }),
    expected: ['flag i-c'],
  },
  {
    name: 'fresh heartbeat but target unhealthy -> suspect only',
    obs: third({ views: fresh('i-c'), instance: { targetHealth: 'unhealthy' } }),
    expected: ['suspect i-c'],
  },
  {
    name: 'a restarted node: the freshest of its two registry entries counts',
    obs: third({
      views: [view('i-c', 40_000), { ...view('i-c'), identity: { ...view('i-c').identity, nodeId: 'n2' } }],
    }),
    expected: [],
  },
  {
    name: 'media fleet with its own policy flags two per cycle while masters flag one',
    policy: { ...DEFAULT_POLICY, media: { ...DEFAULT_POLICY.media, maxFlagsPerCycle: 2 } },
    obs: observations({
      fleets: [
        masters5,
        fleet(
          'media',
          ['m-1', 'm-2', 'm-3', 'm-4', 'm-5'].map((id) => instance(id)),
        ),
      ],
      registry: {
        reachable: true,
        nodes: [
          ...fresh('i-a', 'i-b', 'i-c'),
          view('i-d', 5_000),
          view('i-e', 6_000),
          ...['m-1', 'm-2', 'm-3'].map((id) => view(id, 100, 'media')),
          view('m-4', 5_000, 'media'),
          view('m-5', 6_000, 'media'),
        ],
      },
      probes: failing('i-d', 'i-e', 'm-4', 'm-5'),
    }),
    expected: ['flag i-e', 'hold max-flags-per-cycle i-d', 'flag m-5', 'flag m-4'],
  },
  {
    name: 'media nodes have their own default: one of two dead is replaced (at least half stays healthy)',
    obs: observations({
      fleets: [fleet('media', [instance('m-1'), instance('m-2')])],
      registry: { reachable: true, nodes: [view('m-1', 0, 'media'), view('m-2', 4_000, 'media')] },
      probes: failing('m-2'),
    }),
    expected: ['flag m-2'],
  },
  {
    name: 'media nodes: both of two dead -> hold, no healthy half left',
    obs: observations({
      fleets: [fleet('media', [instance('m-1'), instance('m-2')])],
      registry: { reachable: true, nodes: [view('m-1', 4_000, 'media'), view('m-2', 5_000, 'media')] },
      probes: failing('m-1', 'm-2'),
    }),
    expected: ['hold majority m-2', 'hold majority m-1'],
  },
  {
    name: 'a two-master fleet under the default policy holds: one of two is no majority',
    obs: observations({
      fleets: [fleet('master', [instance('i-a'), instance('i-b')])],
      registry: { reachable: true, nodes: [view('i-a'), view('i-b', 4_000)] },
      probes: failing('i-b'),
    }),
    expected: ['hold majority i-b'],
  },
];

describe('decide', () => {
  test.each(cases)('$name', ({ obs, expected, policy }) => {
    expect(decide(obs, policy).map(brief)).toEqual(expected);
  });

  test('a two-node fleet with minHealthyShare 0.4 may replace one of two', () => {
    const twoNodes = cases[cases.length - 1].obs;
    const policy = { ...DEFAULT_POLICY, master: { ...DEFAULT_POLICY.master, minHealthyShare: 0.4 } };
    expect(decide(twoNodes, policy).map(brief)).toEqual(['flag i-b']);
  });

  test('a flag carries both signals with their details', () => {
    const [decision] = decide(third({ views: [view('i-c', 4_200)], live: false }));
    expect(decision).toEqual<Decision>({
      action: 'flag',
      node: { role: 'master', groupName: 'masters', instanceId: 'i-c', nodeId: 'node-i-c' },
      signals: [
        { kind: 'heartbeat-expired', detail: 'last heartbeat 4200 ms ago' },
        { kind: 'live-failed', detail: 'ECONNREFUSED' },
      ],
    });
  });

  test('an overdue boot is flagged with both signals, and no node id (it never registered)', () => {
    const launchedAt = NOW - 1_860_000;
    const [decision] = decide(third({ views: [], live: false, instance: { launchedAt } }));
    expect(decision).toEqual<Decision>({
      action: 'flag',
      node: { role: 'master', groupName: 'masters', instanceId: 'i-c', nodeId: undefined },
      signals: [
        { kind: 'boot-overdue', detail: 'never registered, launched 1860 s ago (boot deadline 1800 s)' },
        { kind: 'live-failed', detail: 'ECONNREFUSED' },
      ],
    });
  });

  test('the default boot deadline is the contract timing, for both roles', () => {
    expect(DEFAULT_POLICY.master.bootDeadlineMs).toBe(1_800_000);
    expect(DEFAULT_POLICY.media.bootDeadlineMs).toBe(1_800_000);
    expect(DEFAULT_TIMINGS.bootDeadlineSeconds).toBe(1_800);
  });

  test('a majority hold says how many are healthy', () => {
    const [decision] = decide(cases.find((c) => c.name.startsWith('3 of 3'))!.obs);
    expect(decision).toMatchObject({
      action: 'hold',
      rail: 'majority',
      detail: '0 of 3 in service have a fresh heartbeat; flagging needs more than 50%',
    });
  });
});

describe('probeTargets', () => {
  const DEADLINE_MS = DEFAULT_TIMINGS.bootDeadlineSeconds * 1000;
  const overdue = NOW - DEADLINE_MS - 1;
  const targets = (fleets: FleetObservation[], nodes: NodeView[], policy?: Policy) =>
    probeTargets(fleets, viewsByInstance(nodes), NOW, policy);

  test('an expired registered node at its registered address; a fresh one not at all', () => {
    const fleets = [fleet('master', [instance('i-a'), instance('i-bb')])];
    expect(targets(fleets, [view('i-a'), view('i-bb', 4_000)])).toEqual([
      { instanceId: 'i-bb', address: '10.0.0.4:8080' },
    ]);
  });

  test("an overdue boot at its private address and its fleet's port", () => {
    const fleets = [
      {
        ...fleet('media', [instance('m-1', { launchedAt: overdue, privateAddress: '10.0.3.7' })]),
        port: 9090,
      },
    ];
    expect(targets(fleets, [])).toEqual([{ instanceId: 'm-1', address: '10.0.3.7:9090' }]);
  });

  test('a boot before its deadline, or without an address or a port, is not probed', () => {
    const fleets = [
      {
        ...fleet('master', [
          instance('i-early', { launchedAt: overdue + 1, privateAddress: '10.0.1.1' }),
          instance('i-noip', { launchedAt: overdue }),
          instance('i-pending', {
            launchedAt: overdue,
            privateAddress: '10.0.1.3',
            lifecycleState: 'Pending',
          }),
        ]),
        port: 8080,
      },
      fleet('media', [instance('m-noport', { launchedAt: overdue, privateAddress: '10.0.1.4' })]),
    ];
    expect(targets(fleets, [])).toEqual([]);
  });

  test("each fleet's policy sets its deadline", () => {
    const policy = { ...DEFAULT_POLICY, media: { ...DEFAULT_POLICY.media, bootDeadlineMs: 600_000 } };
    const at = (role: 'master' | 'media', id: string) => ({
      ...fleet(role, [instance(id, { launchedAt: NOW - 700_000, privateAddress: '10.0.2.2' })]),
      port: 8080,
    });
    expect(targets([at('master', 'i-1'), at('media', 'm-1')], [], policy)).toEqual([
      { instanceId: 'm-1', address: '10.0.2.2:8080' },
    ]);
  });
});
