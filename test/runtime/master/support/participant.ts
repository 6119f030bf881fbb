import { Frame, TestSocket } from './ws-client';

/**
 * A participant driven the way the client SDK does it (docs/contract.md): it keeps its resume
 * token and the last seq it saw, numbers what it sends (cseq) and keeps each frame until the
 * master answers `accepted`, resending the rest after a resume (and every `resendEveryMs`).
 */
export class TestParticipant {
  socket?: TestSocket;
  resumeToken?: string;
  epoch = 0;
  lastSeq = 0;
  /** Every numbered frame its current socket received, in order, duplicates included. */
  readonly numbered: Frame[] = [];
  private cseq = 0;
  private readonly unaccepted = new Map<number, Frame>();
  private resendTimer?: NodeJS.Timeout;

  constructor(
    readonly participantId: string,
    private readonly resendEveryMs = 1_000,
  ) {}

  async join(masterUrl: string, token: string): Promise<Frame> {
    return this.open(masterUrl, { type: 'join', token }, 'joined');
  }

  /**
   * Resumes on `masterUrl` with the resume token and last seq; resends what was not accepted.
   * The old socket is dropped unless `keepOld` (a test of what its master does with it later).
   */
  async resume(masterUrl: string, options: { keepOld?: boolean } = {}): Promise<Frame> {
    if (!options.keepOld) this.socket?.terminate();
    return this.open(
      masterUrl,
      { type: 'resume', resumeToken: this.resumeToken, lastSeq: this.lastSeq },
      'resumed',
    );
  }

  /** Sends app data (to everybody else without `to`); returns its cseq. */
  message(data: unknown, to?: string[]): number {
    const cseq = ++this.cseq;
    const frame = { type: 'message', cseq, data, ...(to ? { to } : {}) };
    this.unaccepted.set(cseq, frame);
    this.socket?.send(frame);
    return cseq;
  }

  get pending(): number {
    return this.unaccepted.size;
  }

  /** App data received from `from`, in order. */
  messagesFrom(from: string): unknown[] {
    return this.numbered.filter((f) => f.type === 'message' && f.from === from).map((f) => f.data);
  }

  stop(): void {
    clearInterval(this.resendTimer);
    this.socket?.terminate();
  }

  private async open(masterUrl: string, hello: Frame, answer: 'joined' | 'resumed'): Promise<Frame> {
    const socket = await openRetrying(masterUrl);
    this.socket = socket;
    socket.onFrame((f) => this.onFrame(socket, f));
    socket.send(hello);
    const reply = await socket.next((f) => f.type === answer || f.type === 'error');
    if (reply.type === 'error') throw new Error(`${hello.type} refused: ${reply.code} ${reply.message}`);
    this.resumeToken = reply.resumeToken;
    this.epoch = reply.epoch;
    for (const cseq of this.unaccepted.keys()) if (cseq <= reply.acceptedCseq) this.unaccepted.delete(cseq);
    this.resend();
    clearInterval(this.resendTimer);
    this.resendTimer = setInterval(() => this.resend(), this.resendEveryMs);
    return reply;
  }

  private resend(): void {
    for (const frame of this.unaccepted.values()) this.socket?.send(frame);
  }

  private onFrame(socket: TestSocket, frame: Frame): void {
    if (socket !== this.socket) return;
    if (frame.type === 'accepted') this.unaccepted.delete(frame.cseq);
    if (typeof frame.seq === 'number') {
      this.numbered.push(frame);
      this.lastSeq = Math.max(this.lastSeq, frame.seq);
    }
  }
}

/** Like the SDK, retry a refused upgrade (503 while a master is briefly not ready) a few times. */
async function openRetrying(masterUrl: string, attempts = 20): Promise<TestSocket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestSocket.open(masterUrl);
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
