/**
 * The local cluster's Auto Scaling groups: it launches node processes, routes masters through
 * HAProxy, and replaces a node the watchdog flags the way an Auto Scaling group replaces an
 * unhealthy instance: the old one is terminated (SIGKILL: it is dead or hung already) and a new
 * one, with a new node id and the same role, is launched in its place. An instance refresh
 * (`refresh`) goes the other way round: launch, then drain the old node.
 *
 * The watchdog reads this fleet through runtime/watchdog's LocalFleet (`watchdogFleet`); a
 * process that exits on its own is not replaced here, but left to the watchdog, as a crashed
 * node on a running EC2 instance is on AWS.
 */
import { join } from 'node:path';
import type { NodeRole } from '../runtime/contract/registry';
import { LocalFleet, type LocalNode } from '../runtime/watchdog/local';
import type { Haproxy } from './haproxy';
import type { StatusNode } from './status-table';

/** What the fleet asks the launcher for. */
export interface NodeSpec {
  readonly role: NodeRole;
  readonly nodeId: string;
  readonly instanceId: string;
  readonly logFile: string;
}

/** A node process that answers /ready. */
export interface NodeHandle {
  readonly pid: number | undefined;
  /** Its HTTP port (masters: REST, WebSocket, /live, /ready; media agents: the control port). */
  readonly port: number;
  /** Resolves once the process is gone. */
  readonly exited: Promise<unknown>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM (a drain), SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<unknown>;
}

/** Starts a node process and resolves once it is ready, or rejects with why not. */
export type LaunchNode = (spec: NodeSpec) => Promise<NodeHandle>;

export interface FleetMember extends StatusNode {
  readonly pid: number | undefined;
  readonly launchedAt: number;
  /** When it answered ready (and, for a master, was added to HAProxy). */
  readonly readyAt: number;
  readonly handle: NodeHandle;
}

export type FleetEvent =
  | { readonly type: 'launched'; readonly member: FleetMember; readonly replaces?: string }
  | { readonly type: 'terminating'; readonly member: FleetMember; readonly reason: string }
  | {
      readonly type: 'launch-failed';
      readonly role: NodeRole;
      readonly attempt: number;
      readonly error: string;
    }
  | { readonly type: 'exited'; readonly member: FleetMember };

/** Launch attempts before a launch (or a replacement) gives up. */
const LAUNCH_ATTEMPTS = 3;

export const GROUP_NAMES: Readonly<Record<NodeRole, string>> = {
  master: 'local-masters',
  media: 'local-media',
};

export interface ClusterFleetOptions {
  readonly launch: LaunchNode;
  readonly haproxy: Pick<Haproxy, 'addServer' | 'removeServer' | 'drainServer'>;
  /** Each node's log goes to `<logDir>/<nodeId>.log`. */
  readonly logDir: string;
  readonly onEvent?: (event: FleetEvent) => void;
  /** How long a drained node gets to exit before SIGKILL. @default 35_000 */
  readonly drainGraceMs?: number;
}

export class ClusterFleet {
  /** The watchdog's view of this fleet: flags land in `replace`. */
  readonly watchdogFleet: LocalFleet;
  private readonly nodes = new Map<string, FleetMember>();
  private readonly counters: Record<NodeRole, number> = { master: 0, media: 0 };
  private readonly busy = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: ClusterFleetOptions) {
    this.watchdogFleet = new LocalFleet({
      groups: (['master', 'media'] as const).map((role) => ({ role, groupName: GROUP_NAMES[role] })),
      // Like SetInstanceHealth: answer at once, the group replaces the instance in the background.
      onUnhealthy: (node) => {
        this.track(this.replace(node.instanceId, 'flagged by the watchdog'));
      },
    });
  }

  members(role?: NodeRole): FleetMember[] {
    return [...this.nodes.values()].filter((m) => !role || m.role === role);
  }

  member(instanceId: string): FleetMember | undefined {
    return this.nodes.get(instanceId);
  }

  /**
   * Launches that many nodes of each role, all in parallel; waits for every launch to end, then
   * rejects with the first failure (the nodes that did start stay, for `stop`).
   */
  async start(counts: Partial<Record<NodeRole, number>>): Promise<FleetMember[]> {
    const roles = (Object.keys(counts) as NodeRole[]).flatMap((role) =>
      Array.from({ length: counts[role] ?? 0 }, () => role),
    );
    const results = await Promise.allSettled(roles.map((role) => this.launch(role)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<FleetMember>).value);
  }

  /**
   * Replaces a flagged node: removes it from HAProxy and the fleet, SIGKILLs it, launches a new
   * one. Resolves with the new member, or undefined when there was nothing to do.
   */
  async replace(instanceId: string, reason: string): Promise<FleetMember | undefined> {
    const old = this.claim(instanceId);
    if (!old) return undefined;
    try {
      this.emit({ type: 'terminating', member: old, reason });
      this.forget(old);
      if (old.role === 'master') await this.options.haproxy.removeServer(old.nodeId);
      old.handle.kill('SIGCONT'); // harmless when running; lets a stopped process die at once
      old.handle.kill('SIGKILL');
      await old.handle.exited;
      return await this.launch(old.role, old.nodeId);
    } finally {
      this.busy.delete(instanceId);
    }
  }

  /** Instance refresh: launches the new node first, then drains the old one (SIGTERM) until it exits. */
  async refresh(instanceId: string): Promise<FleetMember | undefined> {
    const old = this.claim(instanceId);
    if (!old) return undefined;
    try {
      const fresh = await this.launch(old.role, old.nodeId);
      this.emit({ type: 'terminating', member: old, reason: 'instance refresh (drain)' });
      this.forget(old);
      if (old.role === 'master') await this.options.haproxy.drainServer(old.nodeId);
      await old.handle.stop(this.options.drainGraceMs ?? 35_000);
      if (old.role === 'master') await this.options.haproxy.removeServer(old.nodeId);
      return fresh;
    } finally {
      this.busy.delete(instanceId);
    }
  }

  /** Stops every node (SIGTERM, SIGKILL after `graceMs`) and waits for replacements under way. */
  async stop(graceMs = 2_000): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.pending]);
    const members = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(members.map((m) => m.handle.stop(graceMs)));
  }

  private claim(instanceId: string): FleetMember | undefined {
    const member = this.nodes.get(instanceId);
    if (!member || this.busy.has(instanceId) || this.stopping) return undefined;
    this.busy.add(instanceId);
    return member;
  }

  /** Out of the fleet (and the watchdog's view of it): like an instance leaving InService. */
  private forget(member: FleetMember): void {
    this.nodes.delete(member.instanceId);
    this.watchdogFleet.remove(member.instanceId);
  }

  private async launch(role: NodeRole, replaces?: string): Promise<FleetMember> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.launchOnce(role, replaces);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        this.emit({ type: 'launch-failed', role, attempt, error });
        if (attempt >= LAUNCH_ATTEMPTS || this.stopping) throw err;
      }
    }
  }

  private async launchOnce(role: NodeRole, replaces?: string): Promise<FleetMember> {
    this.counters[role] += 1;
    const nodeId = `${role}-${this.counters[role]}`;
    const instanceId = `local-${nodeId}`;
    const launchedAt = Date.now();
    const handle = await this.options.launch({
      role,
      nodeId,
      instanceId,
      logFile: join(this.options.logDir, `${nodeId}.log`),
    });
    if (this.stopping) {
      await handle.stop(0);
      throw new Error(`the cluster is stopping; ${nodeId} was stopped`);
    }
    if (role === 'master') await this.options.haproxy.addServer(nodeId, handle.port);
    const member: FleetMember = {
      role,
      nodeId,
      instanceId,
      port: handle.port,
      pid: handle.pid,
      launchedAt,
      readyAt: Date.now(),
      handle,
    };
    this.nodes.set(instanceId, member);
    this.watchdogFleet.add(localNode(member));
    void handle.exited.then(() => {
      if (this.nodes.get(instanceId) === member) this.emit({ type: 'exited', member });
    });
    this.emit({ type: 'launched', member, replaces });
    return member;
  }

  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  private emit(event: FleetEvent): void {
    this.options.onEvent?.(event);
  }
}

function localNode(member: FleetMember): LocalNode {
  return {
    instanceId: member.instanceId,
    groupName: GROUP_NAMES[member.role],
    pid: member.pid,
    launchedAt: member.launchedAt,
  };
}
