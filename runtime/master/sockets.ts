import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { pathOf, refuseUpgrade } from '../node/http';
import { ConnectionContext, ParticipantConnection } from './participant-connection';

/**
 * Far above LIMITS.maxFrameBytes on purpose: a frame between the two gets a clear
 * `frame_too_large` and the socket stays open; only beyond this does `ws` close it (1009).
 */
const MAX_WS_PAYLOAD_BYTES = 1024 * 1024;

/** The master's WebSocket endpoint (`/ws`) and every client socket on it. */
export class Sockets {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_PAYLOAD_BYTES,
  });
  private readonly connections = new Set<ParticipantConnection>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly silentSocketTimeoutMs: number,
    /** Why new sockets are refused right now (draining, not ready), if they are. */
    private readonly refusal: () => string | undefined,
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
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections.add(new ParticipantConnection(ws, this.ctx, (c) => this.connections.delete(c)));
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
