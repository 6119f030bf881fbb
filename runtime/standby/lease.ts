import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { STANDBY_DEFAULTS } from './defaults';

/**
 * The serve lease: how the standby agent tells the master runtime on its node whether to serve. A
 * small JSON file the agent writes (atomically) and the runtime reads every leasePollMs: serving
 * until `until`, renewed every agent tick while this node is the active one, or revoked. A file
 * rather than an endpoint because it survives the runtime's restarts and needs nothing from it but
 * a read; a lease rather than a flag because a runtime whose agent and keepalived died must stop
 * serving by itself.
 */
export type Lease =
  { readonly serving: true; readonly until: number; readonly issuedAt: number } | { readonly serving: false };

/** Every readiness reason of a runtime without a valid lease starts with this (the peer's agent looks for it). */
export const STANDBY_REASON = 'standby';

export function grantLease(now: number, leaseMs: number = STANDBY_DEFAULTS.serveLeaseMs): Lease {
  return { serving: true, until: now + leaseMs, issuedAt: now };
}

export const REVOKED: Lease = { serving: false };

/** The lease a file holds; a missing or garbled file grants nothing. */
export function parseLease(text: string | undefined): Lease | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<{ serving: boolean; until: number; issuedAt: number }>;
    if (value.serving === false) return REVOKED;
    if (value.serving === true && Number.isFinite(value.until) && Number.isFinite(value.issuedAt)) {
      return { serving: true, until: value.until!, issuedAt: value.issuedAt! };
    }
  } catch {
    // garbled: no lease
  }
  return undefined;
}

/**
 * Why a runtime must not serve under `lease`; empty while it may. A lease issued before the runtime
 * started does not count: a runtime restarted on a node that lost the address meanwhile would
 * otherwise serve on a lease its agent can no longer revoke in time.
 */
export function leaseReasons(lease: Lease | undefined, now: number, startedAt: number): string[] {
  if (!lease) return [`${STANDBY_REASON}: no serve lease (this node is not the active one)`];
  if (!lease.serving) return [`${STANDBY_REASON}: the serve lease was revoked (this node stepped down)`];
  if (lease.issuedAt < startedAt) return [`${STANDBY_REASON}: the serve lease predates this process`];
  if (lease.until <= now)
    return [`${STANDBY_REASON}: the serve lease expired (its agent stopped renewing it)`];
  return [];
}

/** Writes `lease` to `file` through a temporary file and a rename: a reader never sees half of it. */
export function writeLease(file: string, lease: Lease): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(lease), { mode: 0o644 });
  renameSync(tmp, file);
}

/**
 * The runtime's side: reads the lease file every `pollMs`, answers readiness reasons, and calls
 * `onRevoked` when the agent revokes a lease (the node stepped down: close client sockets so the
 * clients resume at the new active). An expiry only makes the node not ready: an agent that stalled
 * for a moment renews it again, and clients on a node that lost the address are cut off anyway.
 */
export class ServeLease {
  private lease: Lease | undefined;
  private readonly startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly onRevoked: () => void,
    pollMs: number = STANDBY_DEFAULTS.leasePollMs,
  ) {
    this.read();
    this.timer = setInterval(() => this.read(), pollMs);
    this.timer.unref();
  }

  reasons(now = Date.now()): string[] {
    return leaseReasons(this.lease, now, this.startedAt);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private read(): void {
    const before = this.lease;
    this.lease = parseLease(readIfThere(this.file));
    if (before?.serving && this.lease?.serving === false) this.onRevoked();
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
