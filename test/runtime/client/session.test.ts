import type { DeliveredFrame, SignalKind } from '../../../runtime/contract/messages';
import { CLOSE_CODES } from '../../../runtime/contract/messages';
import { freePort, waitFor } from '../../../local/ports';
import { RtcHaNodeSession, RtcHaSessionEvents, RtcHaSessionOptions } from '../../../runtime/client/node';
import { ScriptedMaster } from './scripted-master';

/** Short timings so that every scenario takes well under a second of waiting. */
const FAST: Omit<RtcHaSessionOptions, 'url' | 'token'> = {
  pingIntervalMs: 50,
  deadSocketTimeoutMs: 300,
  ackIntervalMs: 50,
  ackEvery: 4,
  resendAfterMs: 200,
  reconnect: { firstDelayMs: 10, baseDelayMs: 40, maxDelayMs: 200, maxReconnectMs: 3_000, drainJitterMs: 10 },
};

const masters: ScriptedMaster[] = [];
const sessions: RtcHaNodeSession[] = [];

async function master(options: Parameters<typeof ScriptedMaster.start>[0] = {}): Promise<ScriptedMaster> {
  const m = await ScriptedMaster.start(options);
  masters.push(m);
  return m;
}

/** A session with FAST timings, and every event it emits, in order. */
function session(url: string | string[], options: Partial<RtcHaSessionOptions> = {}) {
  const s = new RtcHaNodeSession({ ...FAST, url, token: 'connection-token', ...options });
  sessions.push(s);
  const events: { name: keyof RtcHaSessionEvents; payload: unknown }[] = [];
  const names: (keyof RtcHaSessionEvents)[] = [
    'joined',
    'reconnecting',
    'resumed',
    'failed',
    'message',
    'signal',
    'participantJoined',
    'accepted',
    'error',
  ];
  for (const name of names) s.on(name, (payload) => events.push({ name, payload }));
  const of = <K extends keyof RtcHaSessionEvents>(name: K) =>
    events.filter((e) => e.name === name).map((e) => e.payload as RtcHaSessionEvents[K]);
  const until = (name: keyof RtcHaSessionEvents, n = 1, timeoutMs = 5_000) =>
    waitFor(`${n} ${name} event(s)`, () => of(name).length >= n, timeoutMs, 5);
  return { s, events, of, until };
}

function message(seq: number, data: unknown = seq): DeliveredFrame {
  return { type: 'message', seq, from: 'p2', data };
}

afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  await Promise.all(masters.splice(0).map((m) => m.stop()));
});

describe('RtcHaSession', () => {
  test('joins with the token, emits delivered frames and acks them', async () => {
    // GIVEN
    const m = await master();
    const { s, of, until } = session(m.url);

    // WHEN
    const joined = await s.connect();
    for (let seq = 1; seq <= 5; seq++) m.last.send(message(seq));
    m.last.send({
      type: 'participantJoined',
      seq: 6,
      participant: { participantId: 'p3', state: 'connected' },
    });

    // THEN
    expect(joined).toMatchObject({ type: 'joined', participantId: 'p1', resumeToken: 'resume-1' });
    expect(m.last.frames[0]).toEqual({ type: 'join', token: 'connection-token' });
    await until('participantJoined');
    expect(of('message').map((f) => f.data)).toEqual([1, 2, 3, 4, 5]);
    // ackEvery (4) acks at once; the rest within ackIntervalMs.
    await waitFor('ack of seq 6', () => m.received('ack').some((a) => a.seq === 6), 1_000, 5);
    expect(m.received('ack').map((a) => a.seq)).toEqual([4, 6]);
    expect(s.lastSeq).toBe(6);
  });

  test('after a close it reconnects with growing, jittered delays and resumes with token and last seq', async () => {
    // GIVEN a joined session that saw seq 1..3
    const port = await freePort();
    let m = await master({ port });
    const { s, of, until } = session(m.url, { random: () => 0.5 });
    await s.connect();
    for (let seq = 1; seq <= 3; seq++) m.last.send(message(seq));
    await until('message', 3);

    // WHEN the master goes away for a while, then comes back on the same port
    await m.stop();
    await until('reconnecting', 4);
    m = await master({
      port,
      onHandshake: (_frame, socket) => socket.send(m.handshakeReply('resumed', { replayed: 2, missed: 1 })),
    });
    await until('resumed');

    // THEN: the first retry is quick, later ones double (half of each cap with random 0.5)
    const delays = of('reconnecting').map((r) => r.delayMs);
    expect(delays.slice(0, 4)).toEqual([5, 20, 40, 80]);
    expect(of('reconnecting')[0]).toMatchObject({ attempt: 1, reason: expect.stringMatching(/closed 1006/) });
    expect(m.last.frames[0]).toEqual({ type: 'resume', resumeToken: 'resume-1', lastSeq: 3 });
    const resumed = of('resumed')[0];
    expect(resumed).toMatchObject({ replayed: 2, missed: 1 });
    expect(resumed.downtimeMs).toBeGreaterThan(0);
    expect(s.state).toBe('open');
  });

  test('a silent master (no pong, no close) is detected as a dead socket and the session resumes', async () => {
    // GIVEN
    const m = await master();
    const { s, of, until } = session(m.url);
    await s.connect();
    await waitFor('a pong round trip', () => m.received('ping').length >= 2, 1_000, 5);

    // WHEN the master hangs: it keeps the socket open and answers nothing
    const hungAt = Date.now();
    m.silent = true;
    await until('reconnecting');
    const detectedMs = Date.now() - hungAt;
    m.silent = false;
    await until('resumed');
    const resumedMs = Date.now() - hungAt;

    // THEN
    expect(of('reconnecting')[0].reason).toMatch(/dead socket/);
    expect(detectedMs).toBeGreaterThanOrEqual(250);
    expect(detectedMs).toBeLessThan(1_000);
    expect(m.last.frames[0]).toMatchObject({ type: 'resume', resumeToken: 'resume-1' });
    // AND the downtime counts the silence before the detection: from the last pong, about a ping before the hang
    const { downtimeMs } = of('resumed')[0];
    expect(downtimeMs).toBeGreaterThanOrEqual(FAST.deadSocketTimeoutMs!);
    expect(downtimeMs).toBeLessThanOrEqual(resumedMs + FAST.pingIntervalMs! + 100);
  });

  test('drops a replayed seq it already saw (dedupe) and delivers the rest once, in order', async () => {
    // GIVEN a session that saw seq 1..2
    const m = await master({
      onHandshake: (frame, socket) => {
        socket.send(m.handshakeReply(frame.type === 'join' ? 'joined' : 'resumed', { replayed: 3 }));
        if (frame.type === 'resume') for (const seq of [1, 2, 3, 4]) socket.send(message(seq));
      },
    });
    const { s, of, until } = session(m.url);
    await s.connect();
    m.last.send(message(1));
    m.last.send(message(2));
    m.last.send(message(2)); // a duplicate on the same socket too
    await until('message', 2);

    // WHEN the socket drops and the master replays from its mailbox, overlapping what was seen
    m.last.ws.terminate();
    await until('resumed');
    await until('message', 4);

    // THEN
    expect(m.received('resume')[0].lastSeq).toBe(2);
    expect(of('message').map((f) => f.seq)).toEqual([1, 2, 3, 4]);
  });

  test('resends unaccepted frames after a resume, and not the accepted ones', async () => {
    // GIVEN a master that accepts nothing, and three frames sent into it
    const m = await master({
      accept: false,
      onHandshake: (frame, socket) =>
        socket.send(
          frame.type === 'join'
            ? m.handshakeReply('joined')
            : m.handshakeReply('resumed', { acceptedCseq: 2 }),
        ),
    });
    const { s, until } = session(m.url, { resendAfterMs: 10_000 });
    await s.connect();
    expect([
      s.sendMessage('a'),
      s.sendSignal('p2', 'offer', { type: 'offer', sdp: 'x' }),
      s.sendMessage('c', ['p2']),
    ]).toEqual([1, 2, 3]);
    await waitFor('3 frames', () => m.last.frames.length >= 4, 1_000, 5);

    // WHEN the socket drops; one more frame is sent while reconnecting; the resume says 2 were accepted
    m.last.ws.terminate();
    await until('reconnecting');
    const queued = s.sendMessage('d');
    await until('resumed');
    await waitFor('resent frames', () => m.last.frames.length >= 3, 1_000, 5);

    // THEN only cseq 3 and the queued 4 go out again, in order
    const after = m.last.frames.filter((f) => f.type === 'message' || f.type === 'signal');
    expect(after).toEqual([
      { type: 'message', cseq: 3, to: ['p2'], data: 'c' },
      { type: 'message', cseq: 4, data: 'd' },
    ]);
    expect(queued).toBe(4);

    // AND once accepted they are forgotten
    m.last.send({ type: 'accepted', cseq: 4 });
    await until('accepted');
    expect(s.pendingCount).toBe(0);
  });

  test('a resume with fewer own frames than the registry had accepted: sessionLost with the unaccepted ones, then failed (4011), never out_of_order forever', async () => {
    // GIVEN a master that accepts, then resumes saying only cseq 1 was ever accepted (its store lost 2 and 3)
    const m = await master({
      onHandshake: (frame, socket) =>
        socket.send(
          frame.type === 'join'
            ? m.handshakeReply('joined')
            : m.handshakeReply('resumed', { acceptedCseq: 1 }),
        ),
    });
    const { s, of, until } = session(m.url);
    const lost: RtcHaSessionEvents['sessionLost'][] = [];
    s.on('sessionLost', (e) => lost.push(e));
    await s.connect();
    s.sendMessage('a');
    s.sendMessage('b');
    s.sendMessage('c');
    await until('accepted', 3);

    // WHEN one more frame waits unaccepted, the socket drops, and the resume comes back short
    m.accept = false;
    s.sendMessage('d');
    await waitFor('d sent', () => m.received('message').length === 4, 1_000, 5);
    m.last.ws.terminate();
    await until('failed');

    // THEN the loss is reported as such, with the frame no recipient got, and nothing is resent
    expect(lost).toEqual([
      {
        reason: expect.stringContaining('cseq 2 to 3'),
        unsent: [{ type: 'message', cseq: 4, data: 'd' }],
      },
    ]);
    expect(of('failed')).toEqual([
      expect.objectContaining({
        closeCode: CLOSE_CODES.sessionLost,
        error: expect.objectContaining({ code: 'session_lost' }),
      }),
    ]);
    expect(s.state).toBe('failed');
    // d went out once, before the drop: nothing after the short resume
    expect(m.received('message').map((f) => f.cseq)).toEqual([1, 2, 3, 4]);
  });

  test('resends a frame with no accepted within resendAfterMs, and stops once accepted', async () => {
    // GIVEN
    const m = await master({ accept: false });
    const { s, until } = session(m.url, { resendAfterMs: 100 });
    await s.connect();

    // WHEN
    s.sendMessage('hello');
    await waitFor('a resent copy', () => m.received('message').length >= 2, 1_000, 5);
    m.last.send({ type: 'accepted', cseq: 1 });
    await until('accepted');
    const copies = m.received('message').length;
    await new Promise((r) => setTimeout(r, 300));

    // THEN
    expect(m.received('message').every((f) => f.cseq === 1)).toBe(true);
    expect(m.received('message').length).toBe(copies);
  });

  test.each([
    [CLOSE_CODES.unauthorized, /unauthorized/],
    [CLOSE_CODES.superseded, /superseded/],
    [CLOSE_CODES.left, /removed/],
  ])('close %i is terminal: failed, no reconnect', async (code, reason) => {
    // GIVEN
    const m = await master();
    const { s, of, until } = session(m.url);
    await s.connect();

    // WHEN
    m.last.send({ type: 'error', code: 'unknown_participant', message: 'no such participant' });
    m.last.ws.close(code, 'bye');
    await until('failed');
    await new Promise((r) => setTimeout(r, 100));

    // THEN
    expect(of('failed')[0]).toMatchObject({ closeCode: code, reason: expect.stringMatching(reason) });
    expect(of('failed')[0].error).toEqual({
      code: 'unknown_participant',
      message: 'no such participant',
    });
    expect(of('reconnecting')).toHaveLength(0);
    expect(m.sockets).toHaveLength(1);
    expect(s.state).toBe('failed');
    expect(() => s.sendMessage('x')).toThrow(/failed/);
  });

  test('a refused resume token (its resumed reply was lost) falls back to join once; the replay is deduplicated', async () => {
    // GIVEN a session that saw seq 1..2, and a master that refuses resume tokens and replays all on join
    const m = await master({
      onHandshake: (frame, socket) => {
        if (frame.type === 'resume') {
          socket.send({ type: 'error', code: 'invalid_resume_token', message: 'resume token already used' });
          socket.ws.close(CLOSE_CODES.unauthorized, 'invalid_resume_token');
          return;
        }
        socket.send(m.handshakeReply('joined'));
        if (m.sockets.length > 1) for (const seq of [1, 2, 3]) socket.send(message(seq));
      },
    });
    const { s, of, until } = session(m.url);
    await s.connect();
    m.last.send(message(1));
    m.last.send(message(2));
    await until('message', 2);

    // WHEN the socket drops
    m.last.ws.terminate();
    await until('resumed');
    await until('message', 3);

    // THEN: resume, refused, join with the connection token, resumed; 1 and 2 not delivered twice
    expect(m.sockets.map((socket) => socket.frames[0].type)).toEqual(['join', 'resume', 'join']);
    expect(m.last.frames[0]).toEqual({ type: 'join', token: 'connection-token' });
    expect(of('reconnecting')[1].reason).toMatch(/resume token refused/);
    expect(of('message').map((f) => f.seq)).toEqual([1, 2, 3]);
    expect(of('failed')).toHaveLength(0);
  });

  test('a token the master refuses on join fails connect()', async () => {
    const m = await master({
      onHandshake: (_frame, socket) => {
        socket.send({ type: 'error', code: 'token_expired', message: 'expired' });
        socket.ws.close(CLOSE_CODES.unauthorized);
      },
    });
    const { s } = session(m.url);
    await expect(s.connect()).rejects.toThrow(/session failed: unauthorized/);
  });

  test.each([
    [
      'a reconnect frame',
      (socket: ScriptedMaster['last']) => socket.send({ type: 'reconnect', reason: 'draining' }),
    ],
    ['close 4503', (socket: ScriptedMaster['last']) => socket.ws.close(CLOSE_CODES.draining, 'draining')],
  ])('%s (drain) resumes at once on the next URL', async (_what, drain) => {
    // GIVEN two masters
    const a = await master();
    const b = await master();
    const { s, of, until } = session([a.url, b.url], {
      reconnect: { firstDelayMs: 1_000, drainJitterMs: 20 },
    });
    await s.connect();

    // WHEN the first drains
    drain(a.last);
    await until('resumed');

    // THEN
    expect(of('reconnecting')[0]).toMatchObject({ attempt: 1, url: b.url });
    expect(of('reconnecting')[0].delayMs).toBeLessThan(20);
    expect(b.last.frames[0]).toMatchObject({ type: 'resume', resumeToken: 'resume-1' });
  });

  test('rotates through the URL list: a dead first URL, then the live one; after a loss the next', async () => {
    // GIVEN a list whose first URL refuses connections
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    const live = await master();
    const other = await master();
    const { s, of, until } = session([dead, live.url, other.url]);

    // WHEN
    await s.connect();
    live.last.ws.terminate();
    await until('resumed');

    // THEN
    expect(of('reconnecting').map((r) => r.url)).toEqual([live.url, other.url]);
    expect(live.sockets).toHaveLength(1);
    expect(other.last.frames[0]).toMatchObject({ type: 'resume' });
  });

  test('gives up with failed after maxReconnectMs without a resume', async () => {
    const m = await master();
    const { s, of, until } = session(m.url, {
      reconnect: { maxReconnectMs: 300, baseDelayMs: 20, maxDelayMs: 50 },
    });
    await s.connect();
    await m.stop();
    await until('failed');
    expect(of('failed')[0].reason).toMatch(/no resume within 300 ms/);
    expect(of('reconnecting').length).toBeGreaterThan(1);
  });

  test('out_of_order: resends every unaccepted frame from the oldest, once for a burst of refusals', async () => {
    // GIVEN frames 1..3 out, none accepted, and no resend timer that could fire meanwhile
    const m = await master({ accept: false });
    const { s, until } = session(m.url, { resendAfterMs: 5_000 });
    await s.connect();
    for (const data of ['a', 'b', 'c']) s.sendMessage(data);
    await waitFor('3 frames', () => m.received('message').length === 3, 1_000, 5);

    // WHEN the master refuses 2 and 3 because 1 never reached it
    for (const cseq of [2, 3])
      m.last.send({ type: 'error', code: 'out_of_order', message: 'waits for cseq 1', cseq });

    // THEN all three go again, in order, once
    await waitFor('resent', () => m.received('message').length === 6, 1_000, 5);
    await until('error', 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(m.received('message').map((f) => f.cseq)).toEqual([1, 2, 3, 1, 2, 3]);
    expect(s.state).toBe('open');
  });

  test('registry_unavailable / queue_full: backs off before resending, further each time, until accepted', async () => {
    // GIVEN frames 1 and 2 out; the jitter always takes 90% of the cap (FAST: base 40 ms, max 200 ms)
    const m = await master({ accept: false });
    const { s } = session(m.url, { resendAfterMs: 5_000, random: () => 0.9 });
    await s.connect();
    s.sendMessage('a');
    s.sendMessage('b');
    await waitFor('2 frames', () => m.received('message').length === 2, 1_000, 5);
    const resentAt: number[] = [];
    let refusedAt = Date.now();

    // WHEN the registry is away twice: 1 refused, 2 out of order behind it (stale: no extra resend)
    for (const round of [1, 2]) {
      refusedAt = Date.now();
      m.last.send({
        type: 'error',
        code: round === 1 ? 'registry_unavailable' : 'queue_full',
        message: '',
        cseq: 1,
      });
      m.last.send({ type: 'error', code: 'out_of_order', message: 'waits for cseq 1', cseq: 2 });
      await waitFor(`round ${round}`, () => m.received('message').length === 2 + round * 2, 1_000, 2);
      resentAt.push(Date.now() - refusedAt);
    }
    m.last.send({ type: 'accepted', cseq: 2 });
    await waitFor('accepted', () => s.pendingCount === 0, 1_000, 5);

    // THEN each resend waited its backoff (36 ms, then 72 ms) and sent 1 and 2 in order
    expect(resentAt[0]).toBeGreaterThanOrEqual(30);
    expect(resentAt[1]).toBeGreaterThanOrEqual(65);
    expect(m.received('message').map((f) => f.cseq)).toEqual([1, 2, 1, 2, 1, 2]);
  });

  test('a frame sent while a backed-off resend is due goes out with it, after the older ones', async () => {
    const m = await master({ accept: false });
    const { s, until } = session(m.url, { resendAfterMs: 5_000, random: () => 0.9 });
    await s.connect();
    s.sendMessage('a');
    await waitFor('1 frame', () => m.received('message').length === 1, 1_000, 5);
    m.last.send({ type: 'error', code: 'registry_unavailable', message: '', cseq: 1 });
    await until('error');
    s.sendMessage('b');
    await waitFor('resent', () => m.received('message').length === 3, 1_000, 5);
    expect(m.received('message').map((f) => f.cseq)).toEqual([1, 1, 2]);
  });

  test('error frames surface as error events and keep the connection', async () => {
    const m = await master();
    const { s, of, until } = session(m.url);
    await s.connect();
    m.last.send({ type: 'error', code: 'bad_frame', message: 'unknown type' });
    await until('error');
    expect(of('error')[0]).toEqual({ code: 'bad_frame', message: 'unknown type' });
    expect(s.state).toBe('open');
  });

  test('typed signals go out as sent; sendDescription sends an offer or an answer, nothing else', async () => {
    const m = await master();
    const { s } = session(m.url);
    await s.connect();

    s.sendDescription('p2', { type: 'offer', sdp: 'v=0 offer' });
    s.sendSignal('p2', 'candidate', {
      candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host',
      sdpMid: '0',
    });
    s.sendSignal('p2', 'candidate', null);
    s.sendSignal('p2', 'renegotiate', { iceRestart: true });

    await waitFor('4 signals', () => m.received('signal').length === 4, 1_000, 5);
    expect(m.received('signal').map(({ kind, data }) => ({ kind, data }))).toEqual([
      { kind: 'offer', data: { type: 'offer', sdp: 'v=0 offer' } },
      { kind: 'candidate', data: { candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host', sdpMid: '0' } },
      { kind: 'candidate', data: null },
      { kind: 'renegotiate', data: { iceRestart: true } },
    ]);
    expect(() => s.sendDescription('p2', { type: 'pranswer', sdp: 'v=0' })).toThrow(/not pranswer/);
    expect(() => s.sendDescription('p2', { type: 'answer' })).toThrow(TypeError);
  });

  test('received signals are checked: typed and legacy ones are emitted, a malformed one is an error', async () => {
    const m = await master();
    const { s, of, until } = session(m.url);
    await s.connect();
    const signal = (seq: number, kind: SignalKind, data: unknown): DeliveredFrame => ({
      type: 'signal',
      seq,
      from: 'p2',
      kind,
      data,
    });

    m.last.send(signal(1, 'answer', { type: 'answer', sdp: 'v=0 answer' }));
    m.last.send(signal(2, 'offer', 'v=0 legacy')); // what clients before SignalPayloads sent
    m.last.send(signal(3, 'candidate', { candidate: 'candidate:2' }));
    m.last.send(signal(4, 'candidate', { sdpMid: '0' }));
    m.last.send(signal(5, 'candidate', null));
    m.last.send(signal(6, 'renegotiate', {}));
    await until('signal', 5);
    await until('error');

    expect(of('signal').map(({ seq, kind, data }) => ({ seq, kind, data }))).toEqual([
      { seq: 1, kind: 'answer', data: { type: 'answer', sdp: 'v=0 answer' } },
      { seq: 2, kind: 'offer', data: { type: 'offer', sdp: 'v=0 legacy' } },
      { seq: 3, kind: 'candidate', data: { candidate: 'candidate:2' } },
      { seq: 5, kind: 'candidate', data: null },
      { seq: 6, kind: 'renegotiate', data: { iceRestart: false } },
    ]);
    expect(of('error')).toEqual([
      { code: 'bad_frame', message: 'signal 4 from p2: its data is no candidate (SignalPayloads)' },
    ]);
    expect(s.lastSeq).toBe(6);
  });

  test('leave() sends leave and ends when the master closes 4010, without failed', async () => {
    const m = await master();
    const { s, of } = session(m.url);
    await s.connect();
    const left = s.leave();
    await m.waitForFrame(m.last, 'leave');
    m.last.ws.close(CLOSE_CODES.left);
    await left;
    expect(s.state).toBe('closed');
    expect(of('failed')).toHaveLength(0);
  });

  test('refuses sends before joined and beyond maxPendingFrames', async () => {
    const m = await master({ accept: false });
    const { s } = session(m.url, { maxPendingFrames: 2 });
    expect(() => s.sendMessage('early')).toThrow(/before joined/);
    await s.connect();
    s.sendMessage(1);
    s.sendMessage(2);
    expect(() => s.sendMessage(3)).toThrow(/2 frames wait/);
  });
});
