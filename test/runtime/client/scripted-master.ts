import { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { ClientFrame, JoinedFrame, ServerFrame } from '../../../runtime/contract/messages';
import { waitFor } from '../../../local/ports';

/** One socket a client opened to the scripted master, with every frame it sent. */
export interface ScriptedSocket {
  readonly ws: WebSocket;
  readonly frames: ClientFrame[];
  send(frame: ServerFrame): void;
}

export interface ScriptedMasterOptions {
  /** Port to listen on. @default a free one */
  readonly port?: number;
  /** Answers join/resume; default: a joined/resumed frame with a fresh resume token. */
  readonly onHandshake?: (frame: ClientFrame, socket: ScriptedSocket) => void;
  /** Answer `accepted` to signal/message frames. @default true */
  readonly accept?: boolean;
}

/**
 * A real `ws` server that speaks the master's side of the WebSocket protocol as the test scripts
 * it: join/resume handshake, pongs, `accepted`; the test sends frames, closes sockets, goes silent.
 */
export class ScriptedMaster {
  readonly sockets: ScriptedSocket[] = [];
  /** While true the master answers nothing (no pong, no accepted) and closes nothing: a hung node. */
  silent = false;
  accept: boolean;
  private tokens = 0;
  private stopped = false;

  private constructor(
    private readonly server: WebSocketServer,
    private readonly options: ScriptedMasterOptions,
  ) {
    this.accept = options.accept ?? true;
    server.on('connection', (ws) => this.onConnection(ws));
  }

  static async start(options: ScriptedMasterOptions = {}): Promise<ScriptedMaster> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return new ScriptedMaster(server, options);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }
  /** The newest socket. */
  get last(): ScriptedSocket {
    return this.sockets[this.sockets.length - 1];
  }

  /** Every frame of `type` received on any socket, in order. */
  received<T extends ClientFrame['type']>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.sockets.flatMap((s) =>
      s.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type),
    );
  }

  /** A joined/resumed frame for participant `p1` of session `s1`. */
  handshakeReply(type: 'joined' | 'resumed', extra: Partial<JoinedFrame> = {}): JoinedFrame {
    return {
      type,
      sessionId: 's1',
      participantId: 'p1',
      epoch: this.tokens + 1,
      resumeToken: `resume-${++this.tokens}`,
      participants: [],
      mediaNode: null,
      feeds: [],
      acceptedCseq: 0,
      ...(type === 'resumed' ? { replayed: 0, missed: 0 } : {}),
      ...extra,
    };
  }

  waitForSockets(n: number, timeoutMs = 5_000): Promise<void> {
    return waitFor(`${n} sockets`, () => this.sockets.length >= n, timeoutMs, 5);
  }

  waitForFrame(socket: ScriptedSocket, type: ClientFrame['type'], timeoutMs = 5_000): Promise<void> {
    return waitFor(`a ${type} frame`, () => socket.frames.some((f) => f.type === type), timeoutMs, 5);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.sockets) s.ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(ws: WebSocket): void {
    const socket: ScriptedSocket = {
      ws,
      frames: [],
      send: (frame) => ws.send(JSON.stringify(frame)),
    };
    this.sockets.push(socket);
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ClientFrame;
      socket.frames.push(frame);
      if (this.silent) return;
      if (frame.type === 'join' || frame.type === 'resume') {
        if (this.options.onHandshake) this.options.onHandshake(frame, socket);
        else socket.send(this.handshakeReply(frame.type === 'join' ? 'joined' : 'resumed'));
      } else if (frame.type === 'ping') {
        socket.send({ type: 'pong', id: frame.id });
      } else if ((frame.type === 'message' || frame.type === 'signal') && this.accept) {
        socket.send({ type: 'accepted', cseq: frame.cseq });
      }
    });
  }
}
