/** One readable line per cluster event (fleet changes, watchdog decisions), for people watching. */
import type { ClusterEvent } from './cluster';

interface DecisionLine {
  readonly cycle?: number;
  readonly action?: string;
  readonly node?: { readonly nodeId?: string; readonly instanceId?: string; readonly role?: string };
  readonly signals?: ReadonlyArray<{ readonly kind: string; readonly detail: string }>;
  readonly reason?: string;
  readonly rail?: string;
  readonly detail?: string;
  readonly applied?: boolean;
  readonly error?: string;
  readonly msg?: string;
}

function nodeName(node: DecisionLine['node']): string {
  return node ? (node.nodeId ?? node.instanceId ?? '?') : 'cycle';
}

function signalsText(line: DecisionLine): string {
  return (line.signals ?? []).map((s) => `${s.kind} (${s.detail})`).join(', ');
}

/** The text of a watchdog line; undefined for what nobody needs to see (ignores). */
function describeWatchdogLine(line: DecisionLine): string | undefined {
  if (line.msg === 'watchdog cycle failed') return `watchdog: cycle failed: ${line.error}`;
  switch (line.action) {
    case 'flag': {
      const outcome = line.applied === false ? ` -- NOT applied: ${line.error}` : '';
      return `watchdog FLAG ${nodeName(line.node)}: ${signalsText(line)}${outcome}`;
    }
    case 'suspect':
      return `watchdog suspects ${nodeName(line.node)}: ${signalsText(line)}`;
    case 'hold':
      return `watchdog HOLD (${line.rail}${line.node ? `, ${nodeName(line.node)}` : ''}): ${line.detail}`;
    default:
      return undefined;
  }
}

/** The text of any cluster event; undefined for the ones not worth a line. */
export function describeClusterEvent(event: ClusterEvent): string | undefined {
  switch (event.type) {
    case 'watchdog':
      return describeWatchdogLine(event.line as DecisionLine);
    case 'launched': {
      const { member } = event;
      const replaces = event.replaces ? `, replacing ${event.replaces}` : '';
      return `${member.nodeId} ready (pid ${member.pid ?? '-'}, port ${member.port}, ${member.readyAt - member.launchedAt} ms to start${replaces})`;
    }
    case 'terminating':
      return `terminating ${event.member.nodeId} (pid ${event.member.pid ?? '-'}): ${event.reason}`;
    case 'launch-failed':
      return `a ${event.role} failed to start (attempt ${event.attempt}): ${event.error}`;
    case 'exited':
      return `${event.member.nodeId} (pid ${event.member.pid ?? '-'}) exited; the watchdog decides what happens next`;
  }
}

/**
 * Keeps repeated watchdog lines quiet: a decision prints when it was not printed in the cycle
 * before (a persistent condition prints once, and again if it comes back). Flags always print.
 */
export class EventFilter {
  private previous = new Set<string>();
  private current = new Set<string>();
  private cycle: number | undefined;

  /** The line to print for `event`, or undefined. */
  accept(event: ClusterEvent): string | undefined {
    const text = describeClusterEvent(event);
    if (event.type !== 'watchdog' || text === undefined) return text;
    const line = event.line as DecisionLine;
    if (line.cycle !== this.cycle) {
      this.previous = this.current;
      this.current = new Set();
      this.cycle = line.cycle;
    }
    // details (heartbeat ages) change every cycle; what the decision is about does not
    const key = [
      line.action,
      nodeName(line.node),
      line.rail,
      ...(line.signals ?? []).map((s) => s.kind),
    ].join(':');
    this.current.add(key);
    return line.action === 'flag' || !this.previous.has(key) ? text : undefined;
  }
}
