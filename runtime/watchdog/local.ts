import type { NodeRole } from '../contract/registry';
import type { FleetObservation, NodeRef } from './core';
import type { Fleet, FleetSnapshot } from './watchdog';

/** A node process of the single-machine cluster, as the local runner started it. */
export interface LocalNode {
  /** The runner's label for the process; the node heartbeats it as its instance id. */
  readonly instanceId: string;
  readonly groupName: string;
  /** The process id, for the "instance not running" signal. */
  readonly pid?: number;
  /** When the runner started it (ms since the epoch). */
  readonly launchedAt: number;
}

export interface LocalGroup {
  readonly role: NodeRole;
  readonly groupName: string;
}

export interface LocalFleetOptions {
  readonly groups: readonly LocalGroup[];
  /** Called when the watchdog flags a node: the runner kills and replaces it. */
  readonly onUnhealthy?: (node: LocalNode) => void | Promise<void>;
}

/**
 * The local cluster's stand-in for Auto Scaling groups: the runner adds and removes its node
 * processes; the watchdog reads them here and flags through `onUnhealthy`.
 */
export class LocalFleet implements Fleet {
  private readonly nodes = new Map<string, { readonly node: LocalNode; healthy: boolean }>();

  constructor(private readonly options: LocalFleetOptions) {}

  add(node: LocalNode): void {
    if (!this.options.groups.some((g) => g.groupName === node.groupName)) {
      throw new Error(`unknown local group ${node.groupName}`);
    }
    this.nodes.set(node.instanceId, { node, healthy: true });
  }

  remove(instanceId: string): void {
    this.nodes.delete(instanceId);
  }

  async observe(): Promise<FleetSnapshot> {
    const entries = [...this.nodes.values()];
    const fleets = this.options.groups.map(({ role, groupName }): FleetObservation => ({
      role,
      groupName,
      instances: entries
        .filter((e) => e.node.groupName === groupName)
        .map(({ node, healthy }) => ({
          instanceId: node.instanceId,
          lifecycleState: 'InService',
          healthStatus: healthy ? 'Healthy' : 'Unhealthy',
          launchedAt: node.launchedAt,
          instanceState: node.pid === undefined ? undefined : processState(node.pid),
        })),
    }));
    return { fleets };
  }

  async markUnhealthy(ref: NodeRef): Promise<void> {
    const entry = this.nodes.get(ref.instanceId);
    if (!entry) throw new Error(`${ref.instanceId} is not in the local fleet`);
    entry.healthy = false;
    await this.options.onUnhealthy?.(entry.node);
  }
}

/** `running` while the process exists (signal 0 only checks), `terminated` once it is gone. */
function processState(pid: number): string {
  try {
    process.kill(pid, 0);
    return 'running';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'terminated';
  }
}
