import { randomBytes } from 'node:crypto';
import { Socket, connect } from 'node:net';

/**
 * A WebSocket client by hand, for attacks `ws` will not make: it declares frames of any size,
 * sends part of them, and never answers a close frame. Frames are masked with a zero key (the
 * payload goes out as it is), as a client must mask.
 */
export class RawSocket {
  /** When the TCP connection closed (undefined while open). */
  closedAt?: number;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('error', () => undefined); // resets are what the attacks expect
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  /** Connects to `<masterUrl>/ws` and completes the upgrade (rejects unless 101). */
  static open(masterUrl: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    const { hostname, port } = new URL(masterUrl);
    const socket = connect(Number(port), hostname);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra.join('')}\r\n`,
    );
    return new Promise((resolve, reject) => {
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.on('data', () => undefined); // read and ignore whatever the master sends
        if (head.startsWith('HTTP/1.1 101')) resolve(new RawSocket(socket));
        else {
          socket.destroy();
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  }

  /** A text frame's header declaring `length` payload bytes (masked, zero key). */
  static header(length: number, opcode = 0x1): Buffer {
    if (length < 126) return Buffer.from([0x80 | opcode, 0x80 | length, 0, 0, 0, 0]);
    if (length < 65_536) {
      const h = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0, 0, 0, 0, 0]);
      h.writeUInt16BE(length, 2);
      return h;
    }
    const h = Buffer.alloc(14);
    h[0] = 0x80 | opcode;
    h[1] = 0x80 | 127;
    h.writeBigUInt64BE(BigInt(length), 2);
    return h;
  }

  /** A whole frame (text by default; 0x9 is a ping). */
  static frame(payload: string | Buffer, opcode = 0x1): Buffer {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    return Buffer.concat([RawSocket.header(body.length, opcode), body]);
  }

  write(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
