/**
 * The local cluster's live status: one row per node (role, process, registry state, load balancer
 * state, sessions, heartbeat age) and the latest events (watchdog decisions, replacements).
 * On a terminal it redraws in place; elsewhere (a pipe, a CI log) it prints plain lines, and the
 * table only when a node's state changed.
 */
import { readFileSync } from 'node:fs';
import type { NodeRole, NodeView } from '../runtime/contract/registry';
import type { SlotStatus } from './haproxy';

/** A node process the cluster runs. */
export interface StatusNode {
  readonly nodeId: string;
  readonly instanceId: string;
  readonly role: NodeRole;
  readonly port: number;
  readonly pid?: number;
}

export interface StatusRow {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly pid: string;
  readonly port: string;
  /** `running`, `stopped` (SIGSTOP), `exited`, or `gone` for a registry node no longer in the fleet. */
  readonly process: string;
  /** `active`, `draining`, `stale` (heartbeat expired), `-` (not in the registry), `?` (registry unreachable). */
  readonly registry: string;
  /** HAProxy's view of a master (`UP`, `DOWN`, `MAINT`, ...); `-` for media nodes. */
  readonly lb: string;
  readonly sessions: string;
  readonly connections: string;
  readonly heartbeat: string;
}

/** How long a node that left the fleet stays in the table (as `gone`) while the registry remembers it. */
const GONE_VISIBLE_MS = 30_000;

/**
 * Rows for the fleet's nodes (masters first, by node id), then for registry nodes the fleet no longer has (recently replaced).
 * `views` undefined: the registry could not be read; `slots` undefined: no answer from HAProxy.
 */
export function statusRows(
  nodes: readonly StatusNode[],
  views: readonly NodeView[] | undefined,
  slots: readonly SlotStatus[] | undefined,
  processState: (pid: number) => string = linuxProcessState,
): StatusRow[] {
  const viewOf = new Map((views ?? []).map((v) => [v.identity.nodeId, v]));
  const slotOf = new Map((slots ?? []).flatMap((s) => (s.key ? [[s.key, s]] : [])));
  const ordered = [...nodes].sort(
    (a, b) => a.role.localeCompare(b.role) || a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }),
  );
  const rows = ordered.map((node): StatusRow => {
    const view = viewOf.get(node.nodeId);
    const slot = slotOf.get(node.nodeId);
    return {
      nodeId: node.nodeId,
      role: node.role,
      pid: node.pid === undefined ? '-' : String(node.pid),
      port: String(node.port),
      process: node.pid === undefined ? 'exited' : processState(node.pid),
      registry: views === undefined ? '?' : registryState(view),
      lb: node.role !== 'master' ? '-' : slots === undefined ? '?' : (slot?.status ?? '-'),
      ...loadColumns(view),
    };
  });
  const inFleet = new Set(nodes.map((n) => n.nodeId));
  const gone = (views ?? []).filter(
    (v) => !inFleet.has(v.identity.nodeId) && v.heartbeatAgeMs < GONE_VISIBLE_MS,
  );
  return [
    ...rows,
    ...gone.map((view): StatusRow => ({
      nodeId: view.identity.nodeId,
      role: view.identity.role,
      pid: '-',
      port: view.identity.address.split(':').pop() ?? '-',
      process: 'gone',
      registry: registryState(view),
      lb: '-',
      ...loadColumns(view),
    })),
  ];
}

function registryState(view: NodeView | undefined): string {
  if (!view) return '-';
  return view.expired ? 'stale' : (view.live?.state ?? 'stale');
}

function loadColumns(view: NodeView | undefined): Pick<StatusRow, 'sessions' | 'connections' | 'heartbeat'> {
  return {
    sessions: view?.live ? String(view.live.load.sessions) : '-',
    connections: view?.live ? String(view.live.load.connections) : '-',
    heartbeat: view ? `${(view.heartbeatAgeMs / 1000).toFixed(1)}s` : '-',
  };
}

/** `running`, `stopped` (SIGSTOP or traced) or `exited`, from /proc (Linux); `running` when unknown. */
export function linuxProcessState(pid: number): string {
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses, so take the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't') return 'stopped';
    return state === 'Z' || state === 'X' ? 'exited' : 'running';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'exited' : 'running';
  }
}

/** The table's columns and their titles (the terminal table and the web page). */
export const COLUMNS: ReadonlyArray<readonly [keyof StatusRow, string]> = [
  ['nodeId', 'NODE'],
  ['role', 'ROLE'],
  ['pid', 'PID'],
  ['port', 'PORT'],
  ['process', 'PROCESS'],
  ['registry', 'REGISTRY'],
  ['lb', 'HAPROXY'],
  ['sessions', 'SESSIONS'],
  ['connections', 'CONNS'],
  ['heartbeat', 'HEARTBEAT'],
];

/** The rows as an aligned text table, header first. */
export function formatTable(rows: readonly StatusRow[]): string[] {
  const cells = [COLUMNS.map(([, title]) => title), ...rows.map((r) => COLUMNS.map(([key]) => r[key]))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  return cells.map((line) =>
    line
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

/** What a plain-line status prints again on: node, process, registry and load balancer state. */
function stateKey(rows: readonly StatusRow[]): string {
  return rows.map((r) => `${r.nodeId}:${r.process}:${r.registry}:${r.lb}`).join('|');
}

export interface StatusOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Prints the status: redrawn in place on a terminal, plain lines elsewhere. */
export class StatusView {
  private readonly recent: string[] = [];
  private lastKey: string | undefined;

  constructor(
    private readonly out: StatusOutput,
    private readonly clock: () => Date = () => new Date(),
    /** Events kept under the table on a terminal. */
    private readonly keep = 10,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** An event (a watchdog decision, a replacement): printed at once as a line, or kept for the next redraw. */
  event(text: string): void {
    const line = `${this.clock().toISOString().slice(11, 23)} ${text}`;
    if (!this.tty) {
      this.out.write(`${line}\n`);
      return;
    }
    this.recent.push(line);
    if (this.recent.length > this.keep) this.recent.shift();
  }

  /** Draws `header` (the URLs) above the table; off a terminal, the header prints once. */
  render(header: readonly string[], rows: readonly StatusRow[]): void {
    const table = formatTable(rows);
    if (this.tty) {
      const events = this.recent.length ? this.recent : ['(none yet)'];
      const screen = [...header, '', ...table, '', 'Recent events:', ...events.map((e) => `  ${e}`)];
      // home, clear the screen, draw
      this.out.write(`\x1b[H\x1b[2J${screen.join('\n')}\n`);
      return;
    }
    const key = stateKey(rows);
    if (key === this.lastKey) return;
    if (this.lastKey === undefined) this.out.write(`${header.join('\n')}\n`);
    this.lastKey = key;
    this.out.write(`${table.map((l) => `  ${l}`).join('\n')}\n`);
  }
}
