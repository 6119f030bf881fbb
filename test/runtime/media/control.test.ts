import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket } from 'ws';
import {
  CONTROL_UNAUTHORIZED,
  MEDIA_CONTROL_PATH,
  MediaRequestError,
  controlProof,
  newControlNonce,
  proofMatches,
} from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import {
  answerFrame,
  failureFrame,
  isMediaFrame,
  toMediaRequest,
} from '../../../runtime/master/media-broker';
import { MediaControlChannel, PendingRequests } from '../../../runtime/master/media-control';
import { MediaAgentHandle, startMediaAgent } from '../../../runtime/media/agent';
import { mediaConfigFromEnv } from '../../../runtime/media/config';
import { ControlServer, eventRecipient } from '../../../runtime/media/control-server';
import { mediaHeadroom } from '../../../runtime/media/media-node';
import { offerKinds } from '../../../runtime/media/rooms';
import { Lanes } from '../../../runtime/node/lanes';
import { silentLogger } from '../../../runtime/node/log';
import { FAST, TestRegistry, startRegistry } from '../master/support/harness';

const SECRET = 'control-secret-of-the-test';

describe('handshake proofs', () => {
  const [a, m] = [newControlNonce(), newControlNonce()];

  test('a proof holds only for its secret, role, both nonces and node id', () => {
    const proof = controlProof(SECRET, 'master', a, m, 'master-1');
    expect(proofMatches(controlProof(SECRET, 'master', a, m, 'master-1'), proof)).toBe(true);
    for (const other of [
      controlProof('another-secret-value', 'master', a, m, 'master-1'),
      controlProof(SECRET, 'agent', a, m, 'master-1'), // reflected as the other side's
      controlProof(SECRET, 'master', m, a, 'master-1'), // nonces swapped
      controlProof(SECRET, 'master', newControlNonce(), m, 'master-1'), // replayed on a new challenge
      controlProof(SECRET, 'master', a, m, 'master-2'),
    ]) {
      expect(proofMatches(other, proof)).toBe(false);
    }
  });

  test('a proof of another length is refused without comparing', () => {
    expect(proofMatches(controlProof(SECRET, 'agent', a, m, 'x'), 'short')).toBe(false);
    expect(newControlNonce()).not.toEqual(newControlNonce());
  });
});

describe('request routing', () => {
  test('replies settle their own request; a late reply finds nothing; timeouts say media_unavailable', async () => {
    const pending = new PendingRequests();
    const first = pending.add(1_000);
    const second = pending.add(1_000);
    expect(pending.settle(second.id, { result: { feedId: 'bob' } })).toBe(true);
    expect(pending.settle(first.id, { error: { code: 'no_such_feed', message: 'gone' } })).toBe(true);
    await expect(second.result).resolves.toEqual({ feedId: 'bob' });
    await expect(first.result).rejects.toMatchObject({ code: 'no_such_feed', message: 'gone' });
    expect(pending.settle(first.id, { result: {} })).toBe(false);

    let timedOut = false;
    const slow = pending.add(20, () => (timedOut = true));
    await expect(slow.result).rejects.toMatchObject({ code: 'media_unavailable' });
    expect([timedOut, pending.size]).toEqual([true, 0]);
  });

  test('held requests go out once the channel is up; a close fails only those already sent', async () => {
    const pending = new PendingRequests();
    const sent = pending.add(1_000);
    const held = pending.add(1_000);
    pending.hold(held.id, 'frame-2');
    pending.failSent('closed');
    await expect(sent.result).rejects.toMatchObject({ code: 'media_unavailable', message: 'closed' });
    expect(pending.unsent()).toEqual(['frame-2']);
    expect(pending.unsent()).toEqual([]);
    pending.failAll('stopped');
    await expect(held.result).rejects.toBeInstanceOf(MediaRequestError);
  });

  test('one lane runs its work in order, a failure does not stop it, other lanes go beside it', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    const step =
      (name: string, ms: number, fail = false) =>
      () =>
        new Promise<string>((resolve, reject) =>
          setTimeout(() => {
            order.push(name);
            if (fail) reject(new Error(name));
            else resolve(name);
          }, ms),
        );
    const results = Promise.allSettled([
      lanes.run('alice', step('a1', 30, true)),
      lanes.run('alice', step('a2', 1)),
      lanes.run('bob', step('b1', 10)),
    ]);
    expect((await results).map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(order).toEqual(['b1', 'a1', 'a2']);
  });

  test('an event goes to the master that asked while its channel is open, else to another open one', () => {
    const open = new Set(['m2', 'm3']);
    const isOpen = (m: string) => open.has(m);
    expect(eventRecipient('m3', ['m1', 'm2', 'm3'], isOpen)).toBe('m3');
    expect(eventRecipient('m1', ['m1', 'm2', 'm3'], isOpen)).toBe('m2');
    expect(eventRecipient(undefined, ['m1', 'm2'], isOpen)).toBe('m2');
    expect(eventRecipient('m1', ['m1'], isOpen)).toBeUndefined();
  });

  test('client frames map to agent requests, and the replies to client frames', () => {
    const who = ['s1', 'alice'] as const;
    expect(toMediaRequest(...who, { type: 'publish', requestId: 7, sdp: 'v=0' })).toEqual({
      op: 'publish',
      sessionId: 's1',
      participantId: 'alice',
      sdp: 'v=0',
    });
    expect(
      toMediaRequest(...who, { type: 'subscribeAnswer', subscriptionId: 'sub-1', sdp: 'v=0' }),
    ).toMatchObject({
      op: 'answer',
      subscriptionId: 'sub-1',
    });
    expect(toMediaRequest(...who, { type: 'trickle', target: 'publisher', candidate: null })).toMatchObject({
      op: 'trickle',
      target: 'publisher',
      candidate: null,
    });
    expect(answerFrame({ type: 'publish', requestId: 'p', sdp: 'o' }, { feedId: 'alice', sdp: 'a' })).toEqual(
      {
        type: 'publishAnswer',
        requestId: 'p',
        feedId: 'alice',
        sdp: 'a',
      },
    );
    expect(
      answerFrame(
        { type: 'subscribe', requestId: 2, feedId: 'alice' },
        { subscriptionId: 'sub-1', sdp: 'o' },
      ),
    ).toEqual({ type: 'subscribeOffer', requestId: 2, subscriptionId: 'sub-1', sdp: 'o' });
    expect(answerFrame({ type: 'subscribeAnswer', subscriptionId: 'sub-1', sdp: 'a' }, {})).toEqual({
      type: 'subscribed',
      subscriptionId: 'sub-1',
    });
    expect(answerFrame({ type: 'unpublish' }, {})).toBeUndefined();
    expect(isMediaFrame({ type: 'unsubscribe', subscriptionId: 'sub-1' })).toBe(true);
    expect(isMediaFrame({ type: 'leave' })).toBe(false);
  });

  test('a failure names the request it answers', () => {
    const gone = new MediaRequestError('no_such_feed', 'no feed bob');
    expect(failureFrame({ type: 'subscribe', requestId: 3, feedId: 'bob' }, gone)).toEqual({
      type: 'error',
      code: 'no_such_feed',
      message: 'no feed bob',
      requestId: 3,
    });
    expect(failureFrame({ type: 'trickle', target: 'sub-9', candidate: null }, gone)).toMatchObject({
      subscriptionId: 'sub-9',
    });
    expect(failureFrame({ type: 'unpublish' }, new Error('boom'))).toEqual({
      type: 'error',
      code: 'internal',
      message: 'internal error',
    });
  });
});

describe('media figures', () => {
  test('an offer sends the kinds of its live audio and video m-lines', () => {
    const offer = (lines: string[]) => ['v=0', 's=-', ...lines, ''].join('\r\n');
    expect(
      offer([
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        'a=sendonly',
        'm=video 9 UDP/TLS/RTP/SAVPF 96',
        'a=sendrecv',
      ]),
    ).toBeDefined();
    expect(offerKinds(offer(['m=video 9 UDP 96', 'a=sendonly', 'm=audio 9 UDP 111', 'a=sendrecv']))).toEqual([
      'audio',
      'video',
    ]);
    expect(
      offerKinds(
        offer(['m=audio 9 UDP 111', 'a=recvonly', 'm=video 0 UDP 96', 'm=application 9 UDP/DTLS/SCTP']),
      ),
    ).toEqual([]);
  });

  test('headroom: the lesser of CPU and session headroom; none while Janus cannot take rooms', () => {
    expect(mediaHeadroom({ ready: true, janusCpu: 0, sessions: 0, capacity: 10 })).toBe(1);
    expect(mediaHeadroom({ ready: true, janusCpu: 0.35, sessions: 2, capacity: 10 })).toBeCloseTo(0.5);
    expect(mediaHeadroom({ ready: true, janusCpu: 0.07, sessions: 9, capacity: 10 })).toBeCloseTo(0.1);
    expect(mediaHeadroom({ ready: true, janusCpu: 0.9, sessions: 0, capacity: 10 })).toBe(0);
    expect(mediaHeadroom({ ready: false, janusCpu: 0, sessions: 0, capacity: 10 })).toBe(0);
  });

  test('config: Janus on with an ICE address, which needs the control secret; off without', () => {
    const base = { RTC_REDIS_URL: 'redis://r:6379' };
    expect(mediaConfigFromEnv(base)).toMatchObject({ ok: true, config: { janus: 'off' } });
    expect(mediaConfigFromEnv({ ...base, RTC_MEDIA_ICE_ADDRESS: '10.0.0.5' })).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^RTC_MEDIA_CONTROL_SECRET: required/)],
    });
    expect(
      mediaConfigFromEnv({ ...base, RTC_MEDIA_ICE_ADDRESS: '10.0.0.5', RTC_MEDIA_CONTROL_SECRET: SECRET }),
    ).toMatchObject({ ok: true, config: { janus: 'on', iceAddress: '10.0.0.5', controlSecret: SECRET } });
    expect(mediaConfigFromEnv({ ...base, RTC_JANUS: 'on', RTC_MEDIA_ICE_ADDRESS: 'nope' })).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^RTC_MEDIA_ICE_ADDRESS/)],
    });
  });
});

describe('the control channel against a media agent without Janus', () => {
  let registry: TestRegistry;
  let agent: MediaAgentHandle;

  beforeAll(async () => {
    registry = await startRegistry();
    agent = await startMediaAgent(
      {
        nodeId: 'media-control-test',
        instanceId: 'media-control-test',
        listenHost: '127.0.0.1',
        port: 0,
        redisUrl: registry.server.url,
        keyPrefix: 'rtc',
        drainDeadlineMs: 1_000,
        ...FAST,
        capacity: 5,
        mediaPortMin: 40_000,
        mediaPortMax: 40_100,
        janus: 'off',
        controlSecret: SECRET,
      },
      silentLogger,
    );
  });
  afterAll(async () => {
    await agent?.close();
    await registry?.stop();
  });

  function channel(secret: string, agentId = agent.nodeId): MediaControlChannel {
    return new MediaControlChannel({
      nodeId: 'master-test',
      secret,
      agentId,
      address: `127.0.0.1:${agent.port}`,
      onEvent: () => undefined,
      log: silentLogger,
    });
  }

  test('both ends prove the secret; the agent says it carries no media', async () => {
    const control = channel(SECRET);
    try {
      await expect(
        control.request({ op: 'publish', sessionId: 's1', participantId: 'alice', sdp: 'v=0' }),
      ).rejects.toMatchObject({ code: 'media_unavailable', message: expect.stringMatching(/without Janus/) });
    } finally {
      control.close();
    }
  });

  test('a master with the wrong secret, or expecting another node, gets nothing done', async () => {
    for (const control of [channel('not-the-secret-at-all'), channel(SECRET, 'another-agent')]) {
      try {
        await expect(control.request({ op: 'feeds', sessionId: 's1' }, 500)).rejects.toMatchObject({
          code: 'media_unavailable',
          message: expect.stringMatching(/did not answer/),
        });
      } finally {
        control.close();
      }
    }
  });

  test('the agent closes a peer that sends no proof, or a bad one, with 4001', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${agent.port}${MEDIA_CONTROL_PATH}`);
    const frames: unknown[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await waitFor('the challenge', () => frames.length === 1);
    expect(frames[0]).toMatchObject({ type: 'challenge', nodeId: agent.nodeId });
    ws.send(JSON.stringify({ type: 'auth', nodeId: 'x', nonce: newControlNonce(), proof: 'forged' }));
    expect(await closed).toBe(CONTROL_UNAUTHORIZED);
    expect(frames).toHaveLength(1);
  });
});

describe('a master notices when an agent loses its media', () => {
  /** An agent's end of the control channel alone, whose sockets the test can pause or cut. */
  async function agentEnd() {
    const control = new ControlServer({
      nodeId: 'agent-x',
      secret: SECRET,
      execute: () => Promise.resolve({}),
      log: silentLogger,
    });
    const sockets: Socket[] = [];
    const server = createServer();
    server.on('upgrade', (req, socket, head) => {
      sockets.push(socket as Socket);
      control.handleUpgrade(req, socket, head);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const lost: string[] = [];
    let restarted = 0;
    const channel = new MediaControlChannel({
      nodeId: 'master-test',
      secret: SECRET,
      agentId: 'agent-x',
      address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      onEvent: () => undefined,
      onLost: (reason) => lost.push(reason),
      onRestarted: () => restarted++,
      log: silentLogger,
      // Short, but not so short that a loaded 2-core runner looks silent.
      pingIntervalMs: 50,
      deadAfterMs: 750,
    });
    await channel.request({ op: 'feeds', sessionId: 's1' }); // up and authenticated
    const stop = async () => {
      channel.close();
      control.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    };
    return { control, sockets, lost, restarted: () => restarted, stop };
  }

  test('its Janus died or came back: said on the channel, to every master', async () => {
    const agent = await agentEnd();
    try {
      agent.control.tellMasters({ type: 'janus', state: 'lost', reason: 'exited' }, true);
      await waitFor('janus-lost', () => agent.lost.length === 1);
      agent.control.tellMasters({ type: 'janus', state: 'restarted' }, false);
      await waitFor('restarted', () => agent.restarted() === 1);
      expect(agent.lost).toEqual(['janus-lost']);
    } finally {
      await agent.stop();
    }
  });

  test('the agent died: its channel closed under the master, reported once', async () => {
    const agent = await agentEnd();
    try {
      for (const socket of agent.sockets) socket.destroy();
      await waitFor('closed', () => agent.lost.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(agent.lost).toEqual(['closed']);
    } finally {
      await agent.stop();
    }
  });

  test('the agent went silent (no pong, no reset): reported once, as silent', async () => {
    const agent = await agentEnd();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // pongs keep it alive meanwhile
      expect(agent.lost).toEqual([]);
      for (const socket of agent.sockets) socket.pause(); // it reads nothing, so answers no ping
      await waitFor('silent', () => agent.lost.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(agent.lost).toEqual(['silent']);
    } finally {
      await agent.stop();
    }
  });
});
