/**
 * When the supervisor restarts a dead Janus, and how long a restarted one stays out of placement:
 * pure, so the policy is tested on a table without processes.
 */
export interface RestartPolicy {
  /** Delay before the first restart after a crash. */
  readonly initialDelayMs: number;
  /** Each crash in a row multiplies the delay by this... */
  readonly factor: number;
  /** ...up to this. */
  readonly maxDelayMs: number;
  /** A Janus that ran this long before dying starts the series again at `initialDelayMs`. */
  readonly stableAfterMs: number;
  /**
   * A restarted Janus lost every room it held; the node takes no new session this long after a
   * restart (readiness), so one that keeps crashing is not handed fresh rooms to lose.
   */
  readonly quarantineMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 250,
  factor: 2,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
  quarantineMs: 30_000,
};

/** Crashes in a row, counting this one: a run of `stableAfterMs` or more starts a new series. */
export function crashesInARow(policy: RestartPolicy, previous: number, ranForMs: number): number {
  return ranForMs >= policy.stableAfterMs ? 1 : previous + 1;
}

/** Delay before restarting after the `crashes`-th crash in a row (1 or more). */
export function restartDelayMs(policy: RestartPolicy, crashes: number): number {
  const delay = policy.initialDelayMs * policy.factor ** Math.max(0, crashes - 1);
  return Math.min(policy.maxDelayMs, delay);
}
