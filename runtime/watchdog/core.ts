/**
 * The watchdog's decision core (docs/architecture.md, failure model rules 2 and 3): pure, no I/O.
 * Given what the adapters observed, it decides per node: flag it for replacement, suspect it (one
 * signal only), ignore it, or hold (a safety rail tripped). It never flags on one signal, never
 * while the registry or the replication group cannot be trusted, never more than the policy's
 * limit per cycle, and never so many that no healthy majority would remain. It judges only nodes
 * that registered: a booting node has no heartbeat yet however long its boot takes.
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
}

export type Policy = Readonly<Record<NodeRole, FleetPolicy>>;

export const DEFAULT_FLEET_POLICY: FleetPolicy = {
  maxFlagsPerCycle: 1,
  graceMs: DEFAULT_TIMINGS.asgHealthCheckGraceSeconds * 1000,
  minHealthyShare: 0.5,
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
}

export interface FleetObservation {
  readonly role: NodeRole;
  readonly groupName: string;
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
  /** `/live` results by instance id (the loop probes the registered nodes whose heartbeat expired). */
  readonly probes: ReadonlyMap<string, ProbeResult>;
  /** Instances this watchdog flagged already: their group may not report them Unhealthy yet. */
  readonly flagged: ReadonlySet<string>;
}

export type SignalKind = 'heartbeat-expired' | 'live-failed' | 'target-unhealthy' | 'instance-not-running';

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
  readonly heartbeatAgeMs: number;
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
    // registry), so no view means it never registered: still booting, never judged.
    if (!view) {
      decisions.push({ action: 'ignore', node, reason: 'not-registered' });
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
      candidates.push({ node, signals: [heartbeat, ...others], heartbeatAgeMs: view.heartbeatAgeMs });
    } else if (heartbeat || others.length > 0) {
      decisions.push({ action: 'suspect', node, signals: heartbeat ? [heartbeat] : others });
    }
  }
  return [...decisions, ...limitFlags(candidates, healthy, members, policy)];
}

/** Applies the majority and per-cycle rails to the nodes that have both signals, longest silent first. */
function limitFlags(
  candidates: readonly Candidate[],
  healthy: number,
  members: number,
  policy: FleetPolicy,
): Decision[] {
  const majority = healthy > members * policy.minHealthyShare;
  const ordered = [...candidates].sort(
    (a, b) => b.heartbeatAgeMs - a.heartbeatAgeMs || a.node.instanceId.localeCompare(b.node.instanceId),
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
