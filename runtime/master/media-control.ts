/**
 * A master's end of the control channel to one media agent (docs/contract.md, "Media"): one
 * WebSocket per agent, reused by every request for its sessions, authenticated both ways, and
 * reconnected with backoff when lost. Requests are matched to replies by id and time out; those
 * made while the channel is down wait for it (within their timeout).
 */
import { WebSocket } from 'ws';
import {
  AgentFrameSchema,
  CONTROL_UNAUTHORIZED,
  ChallengeSchema,
  DEFAULT_TIMINGS,
  LIMITS,
  MEDIA_CONTROL_PATH,
  MediaEvent,
  MediaRequest,
  MediaRequestError,
  MediaResults,
  WelcomeSchema,
  controlProof,
  newControlNonce,
  parseJsonOrUndefined,
  proofMatches,
} from '../contract';
import type { Logger } from '../node/log';

export interface MediaControlOptions {
  /** This master's node id (named in its proof). */
  readonly nodeId: string;
  readonly secret: string;
  /** The agent's node id (its challenge must name it) and its control address, host:port. */
  readonly agentId: string;
  readonly address: string;
  readonly onEvent: (event: MediaEvent) => void;
  /**
   * The agent's media is gone: its channel closed under us (the agent died), it went silent (no
   * pong within mediaControlDeadAfterMs: stopped, or its machine gone without a reset), or it said
   * its Janus died. Once per loss; the channel keeps reconnecting.
   */
  readonly onLost?: (reason: 'closed' | 'silent' | 'janus-lost') => void;
  /** The agent's Janus is back after a restart, with a session open. */
  readonly onRestarted?: () => void;
  /** The agent drains: its sessions move make-before-break. */
  readonly onDraining?: () => void;
  readonly log: Logger;
  /** @default DEFAULT_TIMINGS.mediaControlPingIntervalMs */
  readonly pingIntervalMs?: number;
  /** @default DEFAULT_TIMINGS.mediaControlDeadAfterMs */
  readonly deadAfterMs?: number;
}

interface Waiting {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Not sent yet: the channel was down when it was made. */
  frame?: string;
}

/** Requests by id, each with a timeout: the routing half of the channel, free of sockets. */
export class PendingRequests {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /** A new request; it rejects with media_unavailable unless settled within `timeoutMs`. */
  add(timeoutMs: number, onTimeout: () => void = () => undefined): { id: number; result: Promise<unknown> } {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        onTimeout();
        reject(
          new MediaRequestError('media_unavailable', `the media node did not answer within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
    });
    return { id, result };
  }

  /** Holds `frame` until `unsent()` hands it out (the channel is down). */
  hold(id: number, frame: string): void {
    const waiting = this.waiting.get(id);
    if (waiting) waiting.frame = frame;
  }

  /** Frames held while the channel was down, oldest first; they count as sent from now. */
  unsent(): string[] {
    const frames: string[] = [];
    for (const waiting of this.waiting.values()) {
      if (waiting.frame !== undefined) frames.push(waiting.frame);
      waiting.frame = undefined;
    }
    return frames;
  }

  /** Settles request `id` with the agent's reply; false when nothing waits for it (timed out). */
  settle(
    id: number,
    reply: { result?: unknown; error?: { code: MediaRequestError['code']; message: string } },
  ): boolean {
    const waiting = this.waiting.get(id);
    if (!waiting) return false;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (reply.error) waiting.reject(new MediaRequestError(reply.error.code, reply.error.message));
    else waiting.resolve(reply.result ?? {});
    return true;
  }

  /** The channel closed: requests already sent may or may not have run, and fail; held ones wait on. */
  failSent(message: string): void {
    for (const [id, waiting] of this.waiting) {
      if (waiting.frame !== undefined) continue;
      this.waiting.delete(id);
      clearTimeout(waiting.timer);
      waiting.reject(new MediaRequestError('media_unavailable', message));
    }
  }

  failAll(message: string): void {
    for (const waiting of this.waiting.values()) waiting.frame = undefined;
    this.failSent(message);
  }

  get size(): number {
    return this.waiting.size;
  }
}

/** Sockets dropped for silence: their close is not a second loss. */
const silenced = new WeakSet<WebSocket>();

export class MediaControlChannel {
  private readonly pending = new PendingRequests();
  private socket?: WebSocket;
  private authed = false;
  private closed = false;
  private failures = 0;
  private retryTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  /** When the agent last showed life on the authenticated socket (a pong or any frame). */
  private heardAt = 0;

  constructor(private readonly options: MediaControlOptions) {
    this.connect();
  }

  /** Sends `request` (now, or once the channel is up) and resolves with the agent's result. */
  request<R extends MediaRequest>(
    request: R,
    timeoutMs: number = DEFAULT_TIMINGS.mediaRequestTimeoutMs,
  ): Promise<MediaResults[R['op']]> {
    if (this.closed)
      return Promise.reject(new MediaRequestError('media_unavailable', 'control channel closed'));
    // A request that times out on an open socket suggests a dead peer without a reset: start over.
    const { id, result } = this.pending.add(timeoutMs, () => {
      if (this.authed) this.socket?.terminate();
    });
    const frame = JSON.stringify({ type: 'request', id, request });
    if (this.authed) this.socket?.send(frame);
    else this.pending.hold(id, frame);
    return result as Promise<MediaResults[R['op']]>;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.socket?.terminate();
    this.pending.failAll('control channel closed');
  }

  private connect(): void {
    const { address, agentId, secret, nodeId, log } = this.options;
    const ws = new WebSocket(`ws://${address}${MEDIA_CONTROL_PATH}`, {
      handshakeTimeout: DEFAULT_TIMINGS.mediaControlHandshakeMs,
      maxPayload: LIMITS.maxWsMessageBytes,
      perMessageDeflate: false,
    });
    this.socket = ws;
    const nonce = newControlNonce();
    const handshake = setTimeout(() => ws.terminate(), DEFAULT_TIMINGS.mediaControlHandshakeMs);
    let challenge: { nodeId: string; nonce: string } | undefined;
    const refuse = (reason: string) => {
      log.error('media_control_auth_failed', { agent: agentId, address, reason });
      ws.close(CONTROL_UNAUTHORIZED, 'unauthorized');
    };
    ws.on('pong', () => (this.heardAt = Date.now()));
    ws.on('message', (data) => {
      this.heardAt = Date.now();
      const message = parseJsonOrUndefined(String(data));
      if (this.authed) return this.receive(message);
      if (!challenge) {
        const parsed = ChallengeSchema.safeParse(message);
        if (!parsed.success) return refuse('no challenge');
        if (parsed.data.nodeId !== agentId)
          return refuse(`${address} is ${parsed.data.nodeId}, not ${agentId}`);
        challenge = parsed.data;
        const proof = controlProof(secret, 'master', challenge.nonce, nonce, nodeId);
        ws.send(JSON.stringify({ type: 'auth', nodeId, nonce, proof }));
        return;
      }
      const welcome = WelcomeSchema.safeParse(message);
      const expected = controlProof(secret, 'agent', nonce, challenge.nonce, agentId);
      if (!welcome.success || !proofMatches(expected, welcome.data.proof))
        return refuse('bad proof from the agent');
      clearTimeout(handshake);
      this.authed = true;
      this.failures = 0;
      log.info('media_control_connected', { agent: agentId, address });
      this.watch(ws);
      for (const frame of this.pending.unsent()) ws.send(frame);
    });
    ws.on('error', (err) => log.info('media_control_error', { agent: agentId, address, error: err }));
    ws.on('close', () => {
      clearTimeout(handshake);
      clearInterval(this.pingTimer);
      const wasUp = this.authed;
      this.authed = false;
      this.pending.failSent(`control channel to ${agentId} closed`);
      if (wasUp) log.warn('media_control_lost', { agent: agentId, address });
      // A channel that was up and closed under us: the agent died (or its node is unreachable).
      if (wasUp && !this.closed && !silenced.has(ws)) this.options.onLost?.('closed');
      if (!this.closed) this.retry();
    });
  }

  /**
   * Pings the agent every mediaControlPingIntervalMs; one silent for mediaControlDeadAfterMs
   * (SIGSTOP, a frozen or vanished machine: no RST ever comes) is reported lost and its socket
   * dropped. The agent's WebSocket library answers pings by itself, from its event loop.
   */
  private watch(ws: WebSocket): void {
    const every = this.options.pingIntervalMs ?? DEFAULT_TIMINGS.mediaControlPingIntervalMs;
    const deadAfter = this.options.deadAfterMs ?? DEFAULT_TIMINGS.mediaControlDeadAfterMs;
    this.heardAt = Date.now();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.socket !== ws) return;
      const silentMs = Date.now() - this.heardAt;
      if (silentMs >= deadAfter) {
        clearInterval(this.pingTimer);
        silenced.add(ws);
        this.options.log.warn('media_control_silent', { agent: this.options.agentId, silentMs });
        this.options.onLost?.('silent');
        ws.terminate();
        return;
      }
      try {
        ws.ping();
      } catch {
        // closing: its close event follows
      }
    }, every);
    this.pingTimer.unref?.();
  }

  /** Full-jitter backoff, doubling from mediaControlBackoffMs up to mediaControlBackoffMaxMs. */
  private retry(): void {
    const ceiling = Math.min(
      DEFAULT_TIMINGS.mediaControlBackoffMaxMs,
      DEFAULT_TIMINGS.mediaControlBackoffMs * 2 ** this.failures++,
    );
    this.retryTimer = setTimeout(() => this.connect(), Math.random() * ceiling);
  }

  private receive(message: unknown): void {
    const frame = AgentFrameSchema.safeParse(message);
    if (!frame.success) {
      this.options.log.warn('media_control_bad_frame', {
        agent: this.options.agentId,
        error: frame.error.message,
      });
      return;
    }
    const data = frame.data;
    if (data.type === 'event') this.options.onEvent(data.event);
    else if (data.type === 'draining') {
      this.options.log.info('media_agent_draining', { agent: this.options.agentId });
      this.options.onDraining?.();
    } else if (data.type === 'janus') {
      this.options.log.warn('media_janus_state', { agent: this.options.agentId, ...data });
      if (data.state === 'lost') this.options.onLost?.('janus-lost');
      else this.options.onRestarted?.();
    } else this.pending.settle(data.id, data);
  }
}
