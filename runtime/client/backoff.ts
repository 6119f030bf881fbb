/**
 * Exponential backoff with full jitter: the delay before retry `attempt` (1, 2, ...) is uniform in
 * [0, min(maxMs, baseMs * 2^(attempt-1))). Full jitter spreads a herd of clients that lost the
 * same node over the whole window instead of sending them back in lockstep.
 */
export interface BackoffOptions {
  /** Upper bound of the first delay. */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
}

export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * cap);
}

/** Resolves after `ms` (setTimeout exists in browsers and Node alike). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
