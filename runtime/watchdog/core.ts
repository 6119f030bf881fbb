/**
 * The watchdog's decision core (docs/architecture.md, failure model rules 2 and 3): pure, no I/O.
 * Given what the adapters observed, it decides per node: flag it for replacement, suspect it (one
 * signal only), ignore it, or hold (a safety rail tripped). It never flags on one signal, never
 * while the registry or the replication group cannot be trusted, never more than the policy's
 * limit per cycle, and never so many that no healthy majority would remain. A node that never
 * registered is left alone until its boot is overdue (`bootDeadlineMs` after launch, far longer than
 * any boot the platform grants); then its missing registration is its one signal.
 */
import type { NodeRole, NodeView } from '../contract/registry';
import { DEFAULT_TIMINGS } from '../contract/timings';

/** How the watchdog treats one role's fleet. */
export interface FleetPolicy {
  /** Most nodes of one fleet flagged in one cycle. */
  readonly maxFlagsPerCycle: number;
  /**
   * Registered nodes launched less than this long ago are left alone. It matches the group's own
   * health check grace, within which Auto Scaling ignores the flag (`ShouldRespectGracePeriod`).
   */
  readonly graceMs: number;
  /** Flag only while more than this share of the fleet has a fresh heartbeat (0.5: a strict majority). */
  readonly minHealthyShare: number;
  /**
   * An in-service instance that never registered is overdue this long after launch (`boot-overdue`),
   * never sooner than `graceMs`: far above any boot the platform grants, so a slow boot is never judged.
   * @default DEFAULT_TIMINGS.bootDeadlineSeconds (1800 s)
   */
  readonly bootDeadlineMs?: number;
}

export type Policy = Readonly<Record<NodeRole, FleetPolicy>>;

export const DEFAULT_FLEET_POLICY: FleetPolicy = {
  maxFlagsPerCycle: 1,
  graceMs: DEFAULT_TIMINGS.asgHealthCheckGraceSeconds * 1000,
  minHealthyShare: 0.5,
  bootDeadlineMs: DEFAULT_TIMINGS.bootDeadlineSeconds * 1000,
};

/**
 * Media nodes hold no quorum and the default fleet is two, so they are flagged while at least half
 * of the fleet stays healthy (one of two, two of four), not only with a strict majority: otherwise
 * a two-node media fleet could never replace a dead node.
 */
export const DEFAULT_MEDIA_POLICY: FleetPolicy = { ...DEFAULT_FLEET_POLICY, minHealthyShare: 0.4 };

export const DEFAULT_POLICY: Policy = { master: DEFAULT_FLEET_POLICY, media: DEFAULT_MEDIA_POLICY };

/** One instance as its fleet (Auto Scaling group, or the local runner) reports it. */
export interface InstanceObservation {
  readonly instanceId: string;
  /** Auto Scaling lifecycle state; only `InService` instances are judged. */
  readonly lifecycleState: string;
  readonly healthStatus: 'Healthy' | 'Unhealthy';
  /** Launch time (ms since the epoch); unknown counts as just launched. */
  readonly launchedAt?: number;
  /** EC2 instance state name (`running`, `stopped`, ...); locally, whether the process lives. */
  readonly instanceState?: string;
  /** Load balancer target state (`healthy`, `unhealthy`, ...); absent without a target group. */
  readonly targetHealth?: string;
  /** Private IPv4 address: where an overdue boot, which has no registered address, is probed. */
  readonly privateAddress?: string;
}

export interface FleetObservation {
  readonly role: NodeRole;
  readonly groupName: string;
  /** Port of `GET /live` on the fleet's instances; absent: overdue boots are not probed. */
  readonly port?: number;
  readonly instances: readonly InstanceObservation[];
}

export type RegistryObservation =
  | { readonly reachable: true; readonly nodes: readonly NodeView[] }
  | { readonly reachable: false; readonly error: string };

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface Observations {
  /** The watchdog's clock (ms), for launch ages only; heartbeat ages come from Redis's clock. */
  readonly now: number;
  readonly registry: RegistryObservation;
  readonly fleets: readonly FleetObservation[];
  /** The ElastiCache replication group's status; absent where there is none (local cluster). */
  readonly replicationGroupStatus?: string;
  /** `/live` results by instance id (the loop probes {@link probeTargets}). */
  readonly probes: ReadonlyMap<string, ProbeResult>;
  /** Instances this watchdog flagged already: their group may not report them Unhealthy yet. */
  readonly flagged: ReadonlySet<string>;
}

/** `heartbeat-expired` and `boot-overdue` come from the registry, the others from the instance itself. */
export type SignalKind =
  'heartbeat-expired' | 'boot-overdue' | 'live-failed' | 'target-unhealthy' | 'instance-not-running';

export interface Signal {
  readonly kind: SignalKind;
  readonly detail: string;
}

export type Rail =
  'registry-unreachable' | 'replication-group-unavailable' | 'majority' | 'max-flags-per-cycle';

export type IgnoreReason =
  'grace-period' | 'not-registered' | 'not-in-service' | 'already-unhealthy' | 'not-in-fleet';

export interface NodeRef {
  readonly role: NodeRole;
  readonly instanceId: string;
  /** Absent for a registry node that belongs to no watched group. */
  readonly groupName?: string;
  readonly nodeId?: string;
}

export type Decision =
  | { readonly action: 'flag'; readonly node: NodeRef; readonly signals: readonly Signal[] }
  | { readonly action: 'suspect'; readonly node: NodeRef; readonly signals: readonly Signal[] }
  | { readonly action: 'ignore'; readonly node: NodeRef; readonly reason: IgnoreReason }
  | {
      readonly action: 'hold';
      readonly rail: Rail;
      readonly detail: string;
      /** Absent when the rail holds the whole cycle. */
      readonly node?: NodeRef;
      readonly signals?: readonly Signal[];
    };

export type Action = Decision['action'];

/** The freshest registry view of each instance (a restarted node heartbeats under a new node id). */
export function viewsByInstance(nodes: readonly NodeView[]): Map<string, NodeView> {
  const views = new Map<string, NodeView>();
  for (const view of nodes) {
    const known = views.get(view.identity.instanceId);
    if (!known || view.lastHeartbeatAt > known.lastHeartbeatAt) views.set(view.identity.instanceId, view);
  }
  return views;
}

/** Where the loop sends `GET /live` this cycle, by instance id. */
export interface ProbeTarget {
  readonly instanceId: string;
  /** host:port */
  readonly address: string;
}

/**
 * The probes a cycle needs: each registered node whose heartbeat expired, at its registered address,
 * and each overdue boot at its private address and its fleet's port (none without both).
 */
export function probeTargets(
  fleets: readonly FleetObservation[],
  views: ReadonlyMap<string, NodeView>,
  now: number,
  policy: Policy = DEFAULT_POLICY,
): ProbeTarget[] {
  return fleets.flatMap((fleet) =>
    fleet.instances.flatMap((instance): ProbeTarget[] => {
      const view = views.get(instance.instanceId);
      if (view?.expired) return [{ instanceId: instance.instanceId, address: view.identity.address }];
      if (view) return [];
      const overdue = bootOverdueSignal(instance, now, policy[fleet.role]);
      if (!overdue || instance.privateAddress === undefined || fleet.port === undefined) return [];
      return [{ instanceId: instance.instanceId, address: `${instance.privateAddress}:${fleet.port}` }];
    }),
  );
}

export function decide(obs: Observations, policy: Policy = DEFAULT_POLICY): Decision[] {
  if (!obs.registry.reachable) {
    return [{ action: 'hold', rail: 'registry-unreachable', detail: obs.registry.error }];
  }
  if (obs.replicationGroupStatus !== undefined && obs.replicationGroupStatus !== 'available') {
    return [
      {
        action: 'hold',
        rail: 'replication-group-unavailable',
        detail: `replication group is ${obs.replicationGroupStatus}`,
      },
    ];
  }
  const views = viewsByInstance(obs.registry.nodes);
  return [
    ...obs.fleets.flatMap((fleet) => judgeFleet(fleet, views, obs, policy[fleet.role])),
    ...strays(views, obs.fleets),
  ];
}

interface Candidate {
  readonly node: NodeRef;
  readonly signals: readonly Signal[];
  /** Registered nodes go first: a crash is replaced as fast as ever, however many boots hang. */
  readonly registered: boolean;
  /** Heartbeat age of a registered node, launch age of an overdue boot: the longest silent goes first. */
  readonly silentMs: number;
}

function judgeFleet(
  fleet: FleetObservation,
  views: ReadonlyMap<string, NodeView>,
  obs: Observations,
  policy: FleetPolicy,
): Decision[] {
  const decisions: Decision[] = [];
  const candidates: Candidate[] = [];
  let members = 0;
  let healthy = 0;
  for (const instance of fleet.instances) {
    const view = views.get(instance.instanceId);
    const node: NodeRef = {
      role: fleet.role,
      groupName: fleet.groupName,
      instanceId: instance.instanceId,
      nodeId: view?.identity.nodeId,
    };
    if (instance.lifecycleState !== 'InService') {
      decisions.push({ action: 'ignore', node, reason: 'not-in-service' });
      continue;
    }
    members += 1;
    if (instance.healthStatus === 'Unhealthy' || obs.flagged.has(instance.instanceId)) {
      decisions.push({ action: 'ignore', node, reason: 'already-unhealthy' });
      continue;
    }
    // The registry keeps a node's identity for an hour after its last heartbeat (runtime/contract
    // registry), so no view means it never registered: booting, and not judged before its deadline.
    if (!view) {
      const overdue = bootOverdueSignal(instance, obs.now, policy);
      if (!overdue) {
        decisions.push({ action: 'ignore', node, reason: 'not-registered' });
        continue;
      }
      const others = secondSignals(instance, obs.probes.get(instance.instanceId));
      if (others.length > 0) {
        const silentMs = obs.now - (instance.launchedAt ?? obs.now);
        candidates.push({ node, signals: [overdue, ...others], registered: false, silentMs });
      } else {
        decisions.push({ action: 'suspect', node, signals: [overdue] });
      }
      continue;
    }
    const heartbeat = heartbeatSignal(view);
    if (!heartbeat) healthy += 1;
    const launchedAgo = instance.launchedAt === undefined ? 0 : obs.now - instance.launchedAt;
    if (launchedAgo < policy.graceMs) {
      if (heartbeat) decisions.push({ action: 'ignore', node, reason: 'grace-period' });
      continue;
    }
    const others = secondSignals(instance, obs.probes.get(instance.instanceId));
    if (heartbeat && others.length > 0) {
      candidates.push({
        node,
        signals: [heartbeat, ...others],
        registered: true,
        silentMs: view.heartbeatAgeMs,
      });
    } else if (heartbeat || others.length > 0) {
      decisions.push({ action: 'suspect', node, signals: heartbeat ? [heartbeat] : others });
    }
  }
  return [...decisions, ...limitFlags(candidates, healthy, members, policy)];
}

/**
 * Applies the majority and per-cycle rails to the nodes that have two signals: registered nodes first,
 * then overdue boots, each longest silent first.
 */
function limitFlags(
  candidates: readonly Candidate[],
  healthy: number,
  members: number,
  policy: FleetPolicy,
): Decision[] {
  const majority = healthy > members * policy.minHealthyShare;
  const ordered = [...candidates].sort(
    (a, b) =>
      Number(b.registered) - Number(a.registered) ||
      b.silentMs - a.silentMs ||
      a.node.instanceId.localeCompare(b.node.instanceId),
  );
  return ordered.map(({ node, signals }, i): Decision => {
    if (!majority) {
      const detail = `${healthy} of ${members} in service have a fresh heartbeat; flagging needs more than ${policy.minHealthyShare * 100}%`;
      return { action: 'hold', rail: 'majority', detail, node, signals };
    }
    if (i >= policy.maxFlagsPerCycle) {
      const detail = `at most ${policy.maxFlagsPerCycle} flag(s) per cycle; next cycle`;
      return { action: 'hold', rail: 'max-flags-per-cycle', detail, node, signals };
    }
    return { action: 'flag', node, signals };
  });
}

function heartbeatSignal(view: NodeView): Signal | undefined {
  if (!view.expired) return undefined;
  return { kind: 'heartbeat-expired', detail: `last heartbeat ${view.heartbeatAgeMs} ms ago` };
}

/**
 * For an instance with no registry view (the caller's check): in service and launched longer ago than
 * the boot deadline and the grace. An unknown launch time counts as just launched: never overdue.
 */
function bootOverdueSignal(
  instance: InstanceObservation,
  now: number,
  policy: FleetPolicy,
): Signal | undefined {
  if (instance.lifecycleState !== 'InService' || instance.launchedAt === undefined) return undefined;
  const deadlineMs = Math.max(
    policy.bootDeadlineMs ?? DEFAULT_TIMINGS.bootDeadlineSeconds * 1000,
    policy.graceMs,
  );
  const launchedAgo = now - instance.launchedAt;
  if (launchedAgo <= deadlineMs) return undefined;
  return {
    kind: 'boot-overdue',
    detail: `never registered, launched ${Math.round(launchedAgo / 1000)} s ago (boot deadline ${Math.round(deadlineMs / 1000)} s)`,
  };
}

function secondSignals(instance: InstanceObservation, probe: ProbeResult | undefined): Signal[] {
  const signals: Signal[] = [];
  if (probe && !probe.ok) signals.push({ kind: 'live-failed', detail: probe.error });
  if (instance.targetHealth === 'unhealthy') {
    signals.push({ kind: 'target-unhealthy', detail: 'load balancer target is unhealthy' });
  }
  if (instance.instanceState !== undefined && !['running', 'pending'].includes(instance.instanceState)) {
    signals.push({ kind: 'instance-not-running', detail: `instance is ${instance.instanceState}` });
  }
  return signals;
}

/** Stale registry nodes of a watched role whose instance is in no watched group: nothing to act on. */
function strays(views: ReadonlyMap<string, NodeView>, fleets: readonly FleetObservation[]): Decision[] {
  const roles = new Set(fleets.map((f) => f.role));
  const members = new Set(fleets.flatMap((f) => f.instances.map((i) => i.instanceId)));
  return [...views.values()]
    .filter((v) => v.expired && roles.has(v.identity.role) && !members.has(v.identity.instanceId))
    .map((v) => ({
      action: 'ignore',
      node: { role: v.identity.role, instanceId: v.identity.instanceId, nodeId: v.identity.nodeId },
      reason: 'not-in-fleet',
    }));
}
