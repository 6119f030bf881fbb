import type { NodeRole, NodeView } from '../../../runtime/contract/registry';
import type {
  Decision,
  FleetObservation,
  InstanceObservation,
  Observations,
  ProbeResult,
} from '../../../runtime/watchdog/core';

/** The watchdog's clock in these tests. */
export const NOW = Date.UTC(2026, 0, 1, 12);
const LONG_AGO = NOW - 3_600_000;

/** A registry view of the node on `instanceId`; `ageMs` over the 3 s TTL makes it expired. */
export function view(instanceId: string, ageMs = 200, role: NodeRole = 'master'): NodeView {
  const expired = ageMs > 3_000;
  return {
    identity: {
      nodeId: `node-${instanceId}`,
      role,
      instanceId,
      address: `10.0.0.${instanceId.length}:8080`,
      version: 'test',
      startedAt: LONG_AGO,
    },
    lastHeartbeatAt: NOW - ageMs,
    heartbeatAgeMs: ageMs,
    expired,
    live: expired
      ? undefined
      : { state: 'active', load: { cpu: 0.1, sessions: 0, connections: 0, capacity: 100 } },
  };
}

/** An in-service, healthy, running instance launched an hour ago. */
export function instance(
  instanceId: string,
  overrides: Partial<InstanceObservation> = {},
): InstanceObservation {
  return {
    instanceId,
    lifecycleState: 'InService',
    healthStatus: 'Healthy',
    launchedAt: LONG_AGO,
    instanceState: 'running',
    ...overrides,
  };
}

export function fleet(
  role: NodeRole,
  instances: readonly InstanceObservation[],
  groupName = `${role}s`,
): FleetObservation {
  return { role, groupName, instances };
}

export const live = (ok: boolean): ProbeResult => (ok ? { ok: true } : { ok: false, error: 'ECONNREFUSED' });

export function observations(partial: Partial<Observations> & Pick<Observations, 'fleets'>): Observations {
  return {
    now: NOW,
    registry: { reachable: true, nodes: [] },
    probes: new Map(),
    flagged: new Set(),
    ...partial,
  };
}

/** A decision in one short line: `flag i-1`, `hold majority i-2`, `ignore grace-period i-3`, `hold registry-unreachable`. */
export function brief(decision: Decision): string {
  switch (decision.action) {
    case 'flag':
    case 'suspect':
      return `${decision.action} ${decision.node.instanceId}`;
    case 'ignore':
      return `ignore ${decision.reason} ${decision.node.instanceId}`;
    case 'hold':
      return ['hold', decision.rail, decision.node?.instanceId].filter(Boolean).join(' ');
  }
}
