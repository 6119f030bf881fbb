import { API_USER } from '../contract/wire';
import type { ConnectionResource, Metadata, RestError, SessionResource } from '../contract/wire';
import { fullJitterDelay, sleep } from './backoff';
import { RtcHaApiError, RtcHaRetryError } from './errors';
import { withDefaults } from './options';

/** How the admin client retries 502/503/504 and network errors. */
export interface RetryOptions {
  /**
   * Most attempts per call, the first one included.
   * @default 6
   */
  readonly maxAttempts?: number;
  /**
   * Upper bound of the first backoff delay (full jitter, doubling per retry).
   * @default 100
   */
  readonly baseDelayMs?: number;
  /**
   * Upper bound of any backoff delay.
   * @default 2000
   */
  readonly maxDelayMs?: number;
  /**
   * Give up when the next retry would start later than this after the call began.
   * @default 10000
   */
  readonly maxTotalMs?: number;
}

export interface RtcHaAdminOptions {
  /**
   * Base URL of the REST API (the load balancer), or several (masters, primary first): a retry
   * moves to the next one, and the client keeps using the last one that answered.
   */
  readonly baseUrl: string | readonly string[];
  /** The API secret (HTTP Basic password; the user is `rtc-ha`). */
  readonly secret: string;
  /** @default - 6 attempts, 100 ms doubling to at most 2 s, 10 s in all */
  readonly retry?: RetryOptions;
  /**
   * One attempt times out (and counts as a network error) after this long.
   * @default 5000
   */
  readonly requestTimeoutMs?: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

const RETRIED_STATUSES = new Set([502, 503, 504]);

/**
 * The REST client an app back end uses to manage sessions and hand out connection tokens.
 * Every call is idempotent, so 502/503/504 and network errors are retried with exponential
 * backoff and full jitter, bounded in attempts and time; any other error is an RtcHaApiError.
 */
export class RtcHaAdmin {
  private readonly baseUrls: readonly string[];
  private readonly authorization: string;
  private readonly retry: Required<RetryOptions>;
  private readonly requestTimeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly random: () => number;
  /** Index of the base URL that answered last. */
  private preferred = 0;

  constructor(options: RtcHaAdminOptions) {
    const urls = typeof options.baseUrl === 'string' ? [options.baseUrl] : options.baseUrl;
    if (urls.length === 0) throw new Error('RtcHaAdmin: baseUrl needs at least one URL');
    this.baseUrls = urls.map((url) => url.replace(/\/+$/, ''));
    this.authorization = `Basic ${base64(`${API_USER}:${options.secret}`)}`;
    this.retry = withDefaults(
      { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 2_000, maxTotalMs: 10_000 },
      options.retry,
    );
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.random = options.random ?? Math.random;
  }

  /** Creates a session (or finds the one already there) and places it on a media node. */
  createSession(sessionId: string, metadata?: Metadata): Promise<SessionResource> {
    return this.call<SessionResource>('POST', '/v1/sessions', { sessionId, metadata });
  }

  getSession(sessionId: string): Promise<SessionResource> {
    return this.call<SessionResource>('GET', `/v1/sessions/${encodeURIComponent(sessionId)}`);
  }

  /** Deletes a session and closes its sockets. A 404 on a retry counts as done (the first try did it). */
  async deleteSession(sessionId: string): Promise<void> {
    await this.call('DELETE', `/v1/sessions/${encodeURIComponent(sessionId)}`);
  }

  /** Adds a participant (or finds it) and returns a connection token for RtcHaSession. */
  createConnection(
    sessionId: string,
    participantId: string,
    metadata?: Metadata,
  ): Promise<ConnectionResource> {
    return this.call<ConnectionResource>(
      'POST',
      `/v1/sessions/${encodeURIComponent(sessionId)}/connections`,
      {
        participantId,
        metadata,
      },
    );
  }

  /** Removes a participant and closes its socket. A 404 on a retry counts as done. */
  async deleteConnection(sessionId: string, participantId: string): Promise<void> {
    await this.call(
      'DELETE',
      `/v1/sessions/${encodeURIComponent(sessionId)}/connections/${encodeURIComponent(participantId)}`,
    );
  }

  private async call<T>(method: string, path: string, body?: object): Promise<T> {
    const started = Date.now();
    let attempts = 0;
    let lastError: Error | undefined;
    while (attempts < this.retry.maxAttempts) {
      if (attempts > 0) {
        const delay = fullJitterDelay(
          attempts,
          { baseMs: this.retry.baseDelayMs, maxMs: this.retry.maxDelayMs },
          this.random,
        );
        if (Date.now() - started + delay > this.retry.maxTotalMs) break;
        await sleep(delay);
        // A retry goes to the next base URL: the one that failed may be the dead one.
        this.preferred = (this.preferred + 1) % this.baseUrls.length;
      }
      attempts++;
      const outcome = await this.attempt(method, path, body);
      if (outcome.ok) return outcome.value as T;
      lastError = outcome.error;
      if (outcome.error instanceof RtcHaApiError && !RETRIED_STATUSES.has(outcome.error.status)) {
        // The attempt before may have deleted it and lost the reply: the delete is done.
        if (method === 'DELETE' && outcome.error.status === 404 && attempts > 1) return undefined as T;
        throw outcome.error;
      }
    }
    const elapsedMs = Date.now() - started;
    const last = lastError ?? new Error('no attempt allowed (retry.maxAttempts < 1)');
    throw new RtcHaRetryError(
      `${method} ${path} failed after ${attempts} attempt(s) in ${elapsedMs} ms: ${last.message}`,
      attempts,
      elapsedMs,
      last,
    );
  }

  /** One request: the parsed reply, or the error (an RtcHaApiError for any non-2xx answer). */
  private async attempt(
    method: string,
    path: string,
    body: object | undefined,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: Error }> {
    const what = `${method} ${path}`;
    try {
      const response = await this.fetchFn(this.baseUrls[this.preferred] + path, {
        method,
        headers: {
          authorization: this.authorization,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const text = await response.text();
      if (response.ok) return { ok: true, value: text ? JSON.parse(text) : undefined };
      return { ok: false, error: apiError(response.status, text, what) };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      return { ok: false, error: new Error(`${what}: ${error.message}`, { cause: error }) };
    }
  }
}

function apiError(status: number, text: string, what: string): RtcHaApiError {
  let parsed: Partial<RestError> | undefined;
  try {
    parsed = JSON.parse(text) as Partial<RestError>;
  } catch {
    parsed = undefined;
  }
  const error = parsed?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${status}`;
  const message = typeof error?.message === 'string' ? error.message : text.slice(0, 200) || `HTTP ${status}`;
  const details = Array.isArray(error?.details) ? error.details.map(String) : undefined;
  return new RtcHaApiError(status, code, `${what}: ${status} ${code}: ${message}`, details);
}

/** Base64 of UTF-8 text, with btoa (browsers and Node 16+). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
