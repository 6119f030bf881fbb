import WebSocket from 'ws';
import { waitFor } from '../../../../local/ports';

/** A server frame as the tests see it (untyped JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Frame = Record<string, any>;

type Predicate = (frame: Frame) => boolean;

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * A raw WebSocket client speaking the protocol of docs/contract.md, for tests: it records every
 * frame and the close, and lets a test wait for a frame instead of sleeping.
 */
export class TestSocket {
  readonly frames: Frame[] = [];
  closeInfo?: CloseInfo;
  /** When the last frame arrived (a silent master is a dead one). */
  lastFrameAt = Date.now();
  private readonly listeners: Array<(frame: Frame) => void> = [];
  readonly closed: Promise<CloseInfo>;
  private cursor = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.lastFrameAt = Date.now();
      this.frames.push(frame);
      for (const listener of this.listeners) listener(frame);
    });
    ws.on('error', () => undefined); // the close that follows is what tests look at
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      }),
    );
  }

  /** Opens `<masterUrl>/ws` (http:// is turned into ws://). */
  static open(masterUrl: string): Promise<TestSocket> {
    const ws = new WebSocket(`${masterUrl.replace(/^http/, 'ws')}/ws`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestSocket(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Calls `listener` with every frame from now on. */
  onFrame(listener: (frame: Frame) => void): void {
    this.listeners.push(listener);
  }

  send(frame: Frame | string | Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The next frame (after those already taken by `next`) that matches. */
  async next(match: Frame | Predicate, timeoutMs = 5_000): Promise<Frame> {
    const test = typeof match === 'function' ? (match as Predicate) : (f: Frame) => matches(f, match);
    let found: Frame | undefined;
    await waitFor(
      `a frame like ${typeof match === 'function' ? 'the predicate' : JSON.stringify(match)} (got ${JSON.stringify(this.frames.slice(this.cursor))})`,
      () => {
        const i = this.frames.slice(this.cursor).findIndex(test);
        if (i < 0) return false;
        found = this.frames[this.cursor + i];
        this.cursor += i + 1;
        return true;
      },
      timeoutMs,
      5,
    );
    return found!;
  }

  /** Every frame received so far of a given type. */
  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  async closedWith(code: number, timeoutMs = 5_000): Promise<CloseInfo> {
    await waitFor(
      `close ${code} (got ${JSON.stringify(this.closeInfo)})`,
      () => this.closeInfo !== undefined,
      timeoutMs,
      5,
    );
    expect(this.closeInfo!.code).toBe(code);
    return this.closeInfo!;
  }

  /** Sends a ping and waits for its pong: the socket and the master's event loop both work. */
  async roundTrip(id = Math.floor(Math.random() * 1e9)): Promise<void> {
    this.send({ type: 'ping', id });
    await this.next({ type: 'pong', id });
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the TCP connection without a close frame (a crashed or vanished client). */
  terminate(): void {
    this.ws.terminate();
  }
}

function matches(frame: Frame, like: Frame): boolean {
  return Object.entries(like).every(([k, v]) =>
    v !== null && typeof v === 'object' ? frame[k] !== undefined && matches(frame[k], v) : frame[k] === v,
  );
}
