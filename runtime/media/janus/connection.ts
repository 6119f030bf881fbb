/**
 * One WebSocket to Janus (its Janus API or its admin API) with transaction matching: each
 * request carries a fresh `transaction` and resolves with the reply that echoes it. Messages no
 * request waits for (plugin events, webrtcup, hangup, ...) go to the event listeners.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

/** A message from Janus: `janus` names its kind; the rest depends on it. */
export interface JanusMessage {
  readonly janus: string;
  readonly transaction?: string;
  readonly session_id?: number;
  readonly sender?: number;
  readonly [field: string]: unknown;
}

/** Janus refused a request: its numeric code (403 wrong secret, 427 room exists, 428 no such feed, ...). */
export class JanusError extends Error {
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(`Janus error ${code}: ${reason}`);
    this.name = 'JanusError';
  }
}

/** Which API the socket speaks and the secret field every request of it carries. */
export const JANUS_API = { protocol: 'janus-protocol', secretField: 'apisecret' } as const;
export const ADMIN_API = { protocol: 'janus-admin-protocol', secretField: 'admin_secret' } as const;
export type JanusApi = typeof JANUS_API | typeof ADMIN_API;

export interface RequestOptions {
  /**
   * Async plugin requests (join, publish, start, ...) are acknowledged first and answered by an
   * `event` with the same transaction: wait for that event instead of the `ack`.
   */
  readonly untilEvent?: boolean;
  /** @default the connection's request timeout */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly untilEvent: boolean;
  readonly resolve: (message: JanusMessage) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class JanusConnection {
  private readonly pending = new Map<string, Pending>();
  private readonly eventListeners = new Set<(message: JanusMessage) => void>();
  private readonly closeListeners = new Set<() => void>();
  private closed = false;

  private constructor(
    private readonly socket: WebSocket,
    private readonly api: JanusApi,
    private readonly secret: string | undefined,
    private readonly requestTimeoutMs: number,
  ) {
    socket.on('message', (data) => this.receive(String(data)));
    socket.on('close', () => this.onSocketClosed());
    // An 'error' is followed by 'close'; without a listener it would throw.
    socket.on('error', () => undefined);
  }

  /** Opens a socket to `url` (`ws://127.0.0.1:<port>`); rejects when it cannot within `timeoutMs`. */
  static open(
    url: string,
    api: JanusApi,
    secret: string | undefined,
    options: { timeoutMs?: number; requestTimeoutMs?: number } = {},
  ): Promise<JanusConnection> {
    const timeoutMs = options.timeoutMs ?? 2_000;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, api.protocol, {
        handshakeTimeout: timeoutMs,
        perMessageDeflate: false,
      });
      socket.once('open', () => {
        socket.off('error', reject);
        resolve(new JanusConnection(socket, api, secret, options.requestTimeoutMs ?? 5_000));
      });
      socket.once('error', reject);
    });
  }

  /**
   * Sends `body` with a new transaction (and the secret) and resolves with Janus's answer; rejects
   * with a JanusError when Janus answers `error`, or when the answer does not come in time or the
   * socket closes first.
   */
  request(body: Readonly<Record<string, unknown>>, options: RequestOptions = {}): Promise<JanusMessage> {
    if (this.closed) return Promise.reject(new Error(`Janus request ${String(body.janus)}: socket closed`));
    const transaction = randomBytes(9).toString('base64url');
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new Error(`Janus request ${String(body.janus)}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(transaction, { untilEvent: options.untilEvent ?? false, resolve, reject, timer });
      const message = { ...body, transaction, ...(this.secret && { [this.api.secretField]: this.secret }) };
      this.socket.send(JSON.stringify(message));
    });
  }

  onEvent(listener: (message: JanusMessage) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Runs once the socket closed, whoever closed it (Janus's death closes it at once). */
  onClose(listener: () => void): () => void {
    if (this.closed) queueMicrotask(listener);
    else this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Closes the socket; pending requests reject. */
  close(): void {
    this.socket.terminate();
    this.onSocketClosed();
  }

  private receive(text: string): void {
    let message: JanusMessage;
    try {
      message = JSON.parse(text) as JanusMessage;
    } catch {
      return; // Janus sends JSON only; anything else is not ours to act on
    }
    const pending = message.transaction === undefined ? undefined : this.pending.get(message.transaction);
    if (!pending || (message.janus === 'ack' && pending.untilEvent)) {
      if (message.janus !== 'ack') for (const listener of this.eventListeners) listener(message);
      return;
    }
    this.pending.delete(message.transaction as string);
    clearTimeout(pending.timer);
    if (message.janus === 'error') {
      const error = message.error as { code: number; reason: string };
      pending.reject(new JanusError(error.code, error.reason));
    } else {
      pending.resolve(message);
    }
  }

  private onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [transaction, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`Janus request ${transaction}: socket closed`));
    }
    this.pending.clear();
    for (const listener of this.closeListeners) listener();
    this.closeListeners.clear();
  }
}
