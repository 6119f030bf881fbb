import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { DEFAULT_TIMINGS, LIMITS } from '../contract';
import { pathOf, refuseUpgrade } from '../node/http';
import { Admission, ConnectionContext, ParticipantConnection } from './participant-connection';
import { RateLimiter, addressKey, clientAddress, isLoopback } from './rate-limit';

/** The master's WebSocket endpoint (`/ws`) and every client socket on it. */
export class Sockets {
  // Until a socket joins, its receiver takes LIMITS.maxFrameBytesBeforeJoin (ParticipantConnection
  // sets it); a handful of fragments or chunks is all a signaling frame needs.
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.maxWsMessageBytes,
    maxFragments: 64,
    maxBufferedChunks: 4_096,
  });
  private readonly connections = new Set<ParticipantConnection>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly limits = joinLimits();

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly silentSocketTimeoutMs: number,
    /** Why new sockets are refused right now (draining, not ready), if they are. */
    private readonly refusal: () => string | undefined,
    private readonly maxSockets: number = LIMITS.maxSocketsPerMaster,
  ) {
    this.sweeper = setInterval(() => this.dropSilent(), Math.min(1_000, silentSocketTimeoutMs / 4));
  }

  get size(): number {
    return this.connections.size;
  }

  /** Joined sockets (for the node's load). */
  get joinedCount(): number {
    return [...this.connections].filter((c) => c.joined).length;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy()); // a reset mid-handshake must not crash the node
    if (pathOf(req) !== '/ws') return refuseUpgrade(socket, 404, 'not_found');
    const refusal = this.refusal();
    if (refusal) return refuseUpgrade(socket, 503, refusal);
    // Every socket costs memory whether it ever joins or not: past the cap, another master takes it.
    if (this.connections.size >= this.maxSockets) return refuseUpgrade(socket, 503, 'too_many_connections');
    const address = addressKey(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']));
    const admission = { ...this.limits, address };
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections.add(
        new ParticipantConnection(ws, this.ctx, admission, (c) => this.connections.delete(c)),
      );
    });
  }

  /** Tells every client to resume elsewhere (reconnect + 4503), leaving participants as they are. */
  drainAll(): void {
    for (const conn of this.connections) conn.drain();
  }

  /** Drops every socket at once (a drain past its deadline, or a stop). */
  terminateAll(): void {
    clearInterval(this.sweeper);
    for (const conn of this.connections) conn.terminate();
  }

  // A client pings every 2 s; silence for twice its dead-socket timeout means the client (or the
  // path to it) is gone without a FIN. Its close then marks the participant disconnected.
  private dropSilent(): void {
    const cutoff = Date.now() - this.silentSocketTimeoutMs;
    for (const conn of this.connections) {
      if (conn.lastFrameAt >= cutoff) continue;
      this.ctx.log.info('silent_socket_dropped', {
        sessionId: conn.sessionId,
        participantId: conn.participantId,
        silentMs: Date.now() - conn.lastFrameAt,
      });
      conn.terminate();
    }
  }
}

/**
 * Joins and resumes per client address (loopback, the machine itself, is not limited) and
 * takeovers per participant, on this master (docs/contract.md, "Limits").
 */
function joinLimits(): Omit<Admission, 'address'> {
  const maxKeys = LIMITS.maxTrackedRateKeys;
  const perAddress = new RateLimiter({
    burst: LIMITS.joinBurstPerAddress,
    perSecond: LIMITS.joinRatePerAddressPerSecond,
    maxKeys,
  });
  const perParticipant = new RateLimiter({
    burst: LIMITS.maxTakeovers,
    perSecond: (LIMITS.maxTakeovers * 1_000) / DEFAULT_TIMINGS.takeoverWindowMs,
    maxKeys,
  });
  return {
    fromAddress: (address) => isLoopback(address) || perAddress.take(address),
    ofParticipant: (sessionId, participantId) => perParticipant.take(`${sessionId}/${participantId}`),
  };
}
