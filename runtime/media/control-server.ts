/**
 * The media agent's end of the control channel (docs/contract.md, "Media"): masters connect to
 * MEDIA_CONTROL_PATH on the control port, prove the shared secret and have the agent prove it back,
 * then send requests. Events go to the master that last asked about the participant, or to any
 * other master when that one is gone: every master can tell the room through the registry.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  AgentFrame,
  AuthSchema,
  CONTROL_UNAUTHORIZED,
  ControlRequestSchema,
  DEFAULT_TIMINGS,
  LIMITS,
  MEDIA_CONTROL_PATH,
  MediaEvent,
  MediaRequest,
  MediaRequestError,
  controlProof,
  newControlNonce,
  parseJsonOrUndefined,
  proofMatches,
} from '../contract';
import { pathOf, refuseUpgrade } from '../node/http';
import type { Logger } from '../node/log';

export interface ControlServerOptions {
  readonly nodeId: string;
  /** Without one, every master is refused: this agent carries no media. */
  readonly secret?: string;
  readonly execute: (request: MediaRequest) => Promise<unknown>;
  readonly log: Logger;
  /** @default DEFAULT_TIMINGS.mediaControlHandshakeMs */
  readonly handshakeMs?: number;
}

export class ControlServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.maxWsMessageBytes });
  /** Authenticated masters. */
  private readonly masters = new Set<WebSocket>();
  /** Participant (session/participant) -> the master that last asked about it. */
  private readonly owners = new Map<string, WebSocket>();

  constructor(private readonly options: ControlServerOptions) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req) !== MEDIA_CONTROL_PATH) return refuseUpgrade(socket, 404, 'not_found');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  /** Tells a master about `event`; dropped (logged) when no master is connected. */
  push(event: MediaEvent): void {
    const key = participantKey(event.sessionId, event.participantId);
    const master = eventRecipient(
      this.owners.get(key),
      this.masters,
      (ws) => ws.readyState === WebSocket.OPEN,
    );
    if (!master) {
      this.options.log.warn('media_event_undelivered', { ...event, reason: 'no master connected' });
      return;
    }
    master.send(JSON.stringify({ type: 'event', event }));
  }

  /** A node-level frame (Janus lost or restarted): to every open master, or to one. */
  tellMasters(frame: AgentFrame, toEvery: boolean): void {
    const open = [...this.masters].filter((ws) => ws.readyState === WebSocket.OPEN);
    const to = toEvery ? open : open.slice(0, 1);
    for (const ws of to) ws.send(JSON.stringify(frame));
    this.options.log.info('control_told_masters', { ...frame, masters: to.length });
  }

  /** The participant has no media here any more: forget which master asked about it. */
  forget(sessionId: string, participantId: string): void {
    this.owners.delete(participantKey(sessionId, participantId));
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.masters.clear();
    this.owners.clear();
  }

  private accept(ws: WebSocket): void {
    const { nodeId, secret, log } = this.options;
    const nonce = newControlNonce();
    ws.on('error', (err) => log.info('control_socket_error', { error: err }));
    const refuse = (reason: string) => {
      log.warn('control_auth_failed', { reason });
      ws.close(CONTROL_UNAUTHORIZED, 'unauthorized');
    };
    const timer = setTimeout(
      () => refuse('no proof in time'),
      this.options.handshakeMs ?? DEFAULT_TIMINGS.mediaControlHandshakeMs,
    );
    ws.once('close', () => {
      clearTimeout(timer);
      this.masters.delete(ws);
    });
    ws.once('message', (data) => {
      clearTimeout(timer);
      const auth = AuthSchema.safeParse(parseJsonOrUndefined(String(data)));
      if (!auth.success) return refuse('not an auth frame');
      if (!secret) return refuse('no RTC_MEDIA_CONTROL_SECRET on this agent');
      const expected = controlProof(secret, 'master', nonce, auth.data.nonce, auth.data.nodeId);
      if (!proofMatches(expected, auth.data.proof)) return refuse(`bad proof from ${auth.data.nodeId}`);
      ws.send(
        JSON.stringify({
          type: 'welcome',
          proof: controlProof(secret, 'agent', auth.data.nonce, nonce, nodeId),
        }),
      );
      this.masters.add(ws);
      log.info('control_master_connected', { master: auth.data.nodeId });
      ws.on('message', (frame) => this.onRequest(ws, String(frame), auth.data.nodeId));
      ws.once('close', () => log.info('control_master_disconnected', { master: auth.data.nodeId }));
    });
    ws.send(JSON.stringify({ type: 'challenge', nodeId, nonce }));
  }

  private onRequest(ws: WebSocket, text: string, master: string): void {
    const parsed = ControlRequestSchema.safeParse(parseJsonOrUndefined(text));
    if (!parsed.success) {
      this.options.log.warn('control_bad_request', { master, error: parsed.error.message });
      return;
    }
    const { id, request } = parsed.data;
    if (request.op !== 'feeds') this.owners.set(participantKey(request.sessionId, request.participantId), ws);
    if (request.op === 'leave') this.forget(request.sessionId, request.participantId);
    this.options.execute(request).then(
      (result) => reply(ws, { type: 'reply', id, result }),
      (err: unknown) => {
        const error =
          err instanceof MediaRequestError ? err : new MediaRequestError('media_failed', String(err));
        if (error.code === 'media_failed') {
          this.options.log.warn('media_request_failed', { master, op: request.op, error: error.message });
        }
        reply(ws, { type: 'reply', id, error: { code: error.code, message: error.message } });
      },
    );
  }
}

function reply(ws: WebSocket, frame: object): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

function participantKey(sessionId: string, participantId: string): string {
  return `${sessionId}/${participantId}`;
}

/**
 * Who hears an event: the master that last asked about the participant while its channel is open,
 * else any open one (each event goes to one master: the room must hear it once).
 */
export function eventRecipient<T>(
  owner: T | undefined,
  masters: Iterable<T>,
  isOpen: (m: T) => boolean,
): T | undefined {
  if (owner !== undefined && isOpen(owner)) return owner;
  for (const master of masters) if (isOpen(master)) return master;
  return undefined;
}
