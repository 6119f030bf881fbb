/**
 * Retries for the AWS SDK calls the runtime makes (the watchdog, the log shipper). The clients are
 * built with the SDK's own retries off, so that a call's retries live in one place: here, bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** First backoff; it doubles each attempt, with jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

const THROTTLING_ERRORS = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TooManyRequestsException',
]);
const NETWORK_ERRORS = new Set([
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);

/** Throttling, a 429/5xx answer (ServiceUnavailableException is a 503), or a network failure. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  return (
    THROTTLING_ERRORS.has(e.name) ||
    NETWORK_ERRORS.has(e.name) ||
    NETWORK_ERRORS.has(e.code ?? '') ||
    e.$retryable !== undefined ||
    status === 429 ||
    status >= 500
  );
}

/** Runs `call`, retrying what {@link isRetryable} allows, with jittered exponential backoff. */
export async function retrying<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseDelayMs, maxDelayMs } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err)) throw err;
      await sleep(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
    }
  }
}
