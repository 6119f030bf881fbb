import { LIMITS, tokenKeyFrom, verifyConnectionToken } from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import { RedisServer, startRedisServer } from '../../../local/redis-server';
import { API_SECRET, Api, inProcessMaster, sessionState, startTestMaster } from './support/harness';
import { TestSocket } from './support/ws-client';

const world = inProcessMaster();

describe('REST happy paths', () => {
  test('create a session: 201, then 200 with the same session (idempotent)', async () => {
    const first = await world.api.call('POST', '/v1/sessions', {
      sessionId: 'rest-1',
      metadata: { topic: 'x' },
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      sessionId: 'rest-1',
      metadata: { topic: 'x' },
      mediaNode: { nodeId: 'media-a', address: 'media-a.media.example' },
      participants: [],
    });
    const again = await world.api.call('POST', '/v1/sessions', {
      sessionId: 'rest-1',
      metadata: { topic: 'y' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test('connections: 201 then 200, each with a token signed for that session and participant', async () => {
    await world.api.createSession('rest-2');
    const first = await world.api.call('POST', '/v1/sessions/rest-2/connections', {
      participantId: 'alice',
      metadata: { name: 'Alice' },
    });
    expect(first.status).toBe(201);
    const again = await world.api.call('POST', '/v1/sessions/rest-2/connections', { participantId: 'alice' });
    expect(again.status).toBe(200);
    for (const reply of [first, again]) {
      const check = verifyConnectionToken(tokenKeyFrom(API_SECRET), reply.body.token);
      expect(check).toMatchObject({ ok: true, claims: { sessionId: 'rest-2', participantId: 'alice' } });
      expect(reply.body.expiresAt).toBeGreaterThan(Date.now());
    }
    const session = await world.api.call('GET', '/v1/sessions/rest-2');
    expect(session.status).toBe(200);
    expect(session.body.participants).toEqual([
      { participantId: 'alice', state: 'pending', metadata: { name: 'Alice' }, master: null },
    ]);
  });

  test('a session names the master holding each participant while connected, null otherwise', async () => {
    // GIVEN alice connected to the master, bob only with a token
    await world.api.createSession('rest-holder');
    const alice = await TestSocket.open(world.master.url);
    alice.send({ type: 'join', token: await world.api.token('rest-holder', 'alice') });
    await alice.next({ type: 'joined' });
    await world.api.token('rest-holder', 'bob');
    const masters = async () =>
      (await world.api.call('GET', '/v1/sessions/rest-holder')).body.participants.map(
        (p: { participantId: string; state: string; master: string | null }) => [
          p.participantId,
          p.state,
          p.master,
        ],
      );

    // THEN
    expect(await masters()).toEqual([
      ['alice', 'connected', world.master.nodeId],
      ['bob', 'pending', null],
    ]);

    // WHEN alice's socket closes: she may resume anywhere within her reconnect window
    alice.close();
    await waitFor('alice disconnected', async () => (await masters())[0][1] === 'disconnected');

    // THEN nobody holds her
    expect(await masters()).toEqual([
      ['alice', 'disconnected', null],
      ['bob', 'pending', null],
    ]);
  });

  test('delete a participant: 204, its socket closed 4010, the room told participantLeft; then 404', async () => {
    await world.api.createSession('rest-3');
    const [alice, bob] = await Promise.all([
      TestSocket.open(world.master.url),
      TestSocket.open(world.master.url),
    ]);
    alice.send({ type: 'join', token: await world.api.token('rest-3', 'alice') });
    await alice.next({ type: 'joined' });
    bob.send({ type: 'join', token: await world.api.token('rest-3', 'bob') });
    await bob.next({ type: 'joined' });

    expect((await world.api.call('DELETE', '/v1/sessions/rest-3/connections/bob')).status).toBe(204);
    await bob.closedWith(4010);
    await alice.next({ type: 'participantLeft', participantId: 'bob' });
    expect((await world.api.call('DELETE', '/v1/sessions/rest-3/connections/bob')).status).toBe(404);
    alice.close();
  });

  test('delete a session: 204, every socket of it closed; then 404', async () => {
    await world.api.createSession('rest-4');
    const alice = await TestSocket.open(world.master.url);
    alice.send({ type: 'join', token: await world.api.token('rest-4', 'alice') });
    await alice.next({ type: 'joined' });

    expect((await world.api.call('DELETE', '/v1/sessions/rest-4')).status).toBe(204);
    await alice.closedWith(4010);
    expect((await world.api.call('GET', '/v1/sessions/rest-4')).status).toBe(404);
    expect((await world.api.call('DELETE', '/v1/sessions/rest-4')).status).toBe(404);
    expect(await world.registry.store.sessionsOnMediaNode('media-a')).not.toContain('rest-4');
  });

  test('a full session answers 409 session_full', async () => {
    await world.api.createSession('rest-5');
    const others = Array.from({ length: LIMITS.maxParticipantsPerSession }, (_, i) => `p${i}`);
    await world.registry.redis.sadd(world.registry.store.keys.participants('rest-5'), ...others);
    const reply = await world.api.call('POST', '/v1/sessions/rest-5/connections', { participantId: 'late' });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe('session_full');
  });

  test('/live and /ready need no auth', async () => {
    expect(await world.api.call('GET', '/live', undefined, { auth: null })).toMatchObject({
      status: 200,
      body: { status: 'live', nodeId: world.master.nodeId },
    });
    expect(await world.api.call('GET', '/ready', undefined, { auth: null })).toMatchObject({
      status: 200,
      body: { status: 'ready' },
    });
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const nested = (depth: number) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));

  const cases: Array<
    [string, () => Promise<{ status: number; body: { error: Record<string, unknown> } }>, number, string]
  > = [
    [
      'no credentials',
      () => world.api.call('POST', '/v1/sessions', { sessionId: 'nope' }, { auth: null }),
      401,
      'unauthorized',
    ],
    [
      'a wrong secret',
      () =>
        world.api.call(
          'POST',
          '/v1/sessions',
          { sessionId: 'nope' },
          { auth: basic('rtc-ha', 'wrong-secret-0123456') },
        ),
      401,
      'unauthorized',
    ],
    [
      'a wrong user',
      () =>
        world.api.call('POST', '/v1/sessions', { sessionId: 'nope' }, { auth: basic('admin', API_SECRET) }),
      401,
      'unauthorized',
    ],
    [
      'a bearer token',
      () => world.api.call('GET', '/v1/sessions/rest-1', undefined, { auth: `Bearer ${API_SECRET}` }),
      401,
      'unauthorized',
    ],
    [
      'malformed JSON',
      () => world.api.call('POST', '/v1/sessions', undefined, { raw: '{"sessionId": ' }),
      400,
      'bad_json',
    ],
    [
      'an empty body',
      () => world.api.call('POST', '/v1/sessions', undefined, { raw: '' }),
      400,
      'invalid_body',
    ],
    [
      'a body over 16 KiB',
      () =>
        world.api.call('POST', '/v1/sessions', {
          sessionId: 'big',
          metadata: { pad: 'x'.repeat(LIMITS.maxRestBodyBytes) },
        }),
      413,
      'payload_too_large',
    ],
    [
      'metadata nested 100 deep',
      () => world.api.call('POST', '/v1/sessions', { sessionId: 'deep', metadata: nested(100) }),
      400,
      'invalid_body',
    ],
    ['an unknown route', () => world.api.call('GET', '/v1/rooms'), 404, 'not_found'],
    ['an unknown route outside /v1', () => world.api.call('GET', '/admin'), 404, 'not_found'],
    // Without the secret nothing tells routes or methods apart (no route discovery).
    [
      'no auth, an unknown route',
      () => world.api.call('GET', '/admin', undefined, { auth: null }),
      401,
      'unauthorized',
    ],
    [
      'no auth, a wrong method',
      () => world.api.call('PUT', '/v1/sessions/rest-1', {}, { auth: null }),
      401,
      'unauthorized',
    ],
    ['a wrong method', () => world.api.call('PUT', '/v1/sessions/rest-1', {}), 405, 'method_not_allowed'],
    [
      'a wrong method on /ready',
      () => world.api.call('POST', '/ready', {}, { auth: null }),
      405,
      'method_not_allowed',
    ],
    ['an invalid id in the path', () => world.api.call('GET', '/v1/sessions/a%20b'), 400, 'invalid_path'],
    ['broken percent-encoding', () => world.api.call('GET', '/v1/sessions/%E0%A4%A'), 400, 'invalid_path'],
    [
      'a connection for a missing session',
      () => world.api.call('POST', '/v1/sessions/missing/connections', { participantId: 'x' }),
      404,
      'not_found',
    ],
    ['a missing session', () => world.api.call('GET', '/v1/sessions/missing'), 404, 'not_found'],
  ];

  test.each(cases)('%s', async (_name, run, status, code) => {
    const before = await sessionState(world.registry.redis);
    const reply = await run();
    expect(reply.status).toBe(status);
    expect(reply.body.error).toMatchObject({ code, message: expect.any(String) });
    expect(await sessionState(world.registry.redis)).toEqual(before);
    // The master still serves.
    expect((await world.api.call('GET', '/v1/sessions/rest-1')).status).toBe(200);
  });

  test('a body failing validation gets 400 with every problem listed', async () => {
    const before = await sessionState(world.registry.redis);
    const reply = await world.api.call('POST', '/v1/sessions', {
      sessionId: 'bad id!',
      metadata: 'nope',
      extra: 1,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('invalid_body');
    expect(reply.body.error.details).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sessionId: ids are/),
        expect.stringMatching(/^metadata: Expected object/),
        expect.stringMatching(/Unrecognized key.*extra/),
      ]),
    );
    const connection = await world.api.call('POST', '/v1/sessions/rest-1/connections', { participantId: 42 });
    expect(connection.status).toBe(400);
    expect(connection.body.error.details).toEqual([expect.stringMatching(/^participantId: Expected string/)]);
    expect(await sessionState(world.registry.redis)).toEqual(before);
  });

  test('401 and 405 say how to do it right', async () => {
    const unauthorized = await world.api.call('GET', '/v1/sessions/rest-1', undefined, { auth: null });
    expect(unauthorized.headers['www-authenticate']).toBe('Basic realm="rtc-ha"');
    const wrongMethod = await world.api.call('PATCH', '/v1/sessions/rest-1');
    expect(wrongMethod.headers.allow).toBe('GET, DELETE');
  });
});

describe('readiness', () => {
  test('a draining master refuses creates with 503 but still answers reads', async () => {
    const draining = await startTestMaster(world.registry.server.url, { drainDeadlineMs: 5_000 });
    const drainApi = new Api(draining.url);
    // A client that reads nothing never answers the drain's close: the drain waits for it.
    const parked = await TestSocket.open(draining.url);
    (parked.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const drained = draining.drain();
    expect((await drainApi.call('GET', '/ready', undefined, { auth: null })).body).toMatchObject({
      status: 'not_ready',
      reasons: ['draining'],
    });
    const create = await drainApi.call('POST', '/v1/sessions', { sessionId: 'while-draining' });
    expect(create.status).toBe(503);
    expect(create.body.error.code).toBe('draining');
    expect((await drainApi.call('GET', '/v1/sessions/rest-1')).status).toBe(200);
    parked.terminate();
    await drained;
  });

  test('a port already taken fails the start with the reason', async () => {
    await expect(
      startTestMaster(world.registry.server.url, { port: world.master.port }, false),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  test('without Redis a master is live but not ready, answers 503, and recovers by itself', async () => {
    const redis = await startRedisServer();
    const lonely = await startTestMaster(redis.url);
    const lonelyApi = new Api(lonely.url);
    let restarted: RedisServer | undefined;
    try {
      await redis.stop();
      await waitFor('registry unreachable', () => lonely.readiness().some((r) => /registry/.test(r)));
      expect((await lonelyApi.call('GET', '/live', undefined, { auth: null })).status).toBe(200);
      const ready = await lonelyApi.call('GET', '/ready', undefined, { auth: null });
      expect(ready.status).toBe(503);
      expect(ready.body.reasons).toEqual([
        'registry unreachable (heartbeat failing)',
        'event subscriber disconnected',
      ]);
      const create = await lonelyApi.call('POST', '/v1/sessions', { sessionId: 'x' });
      expect(create.status).toBe(503);
      await expect(TestSocket.open(lonely.url)).rejects.toThrow(/503/);

      restarted = await startRedisServer({ port: redis.port });
      await waitFor('ready again', () => lonely.readiness().length === 0, 10_000);
      expect((await lonelyApi.call('GET', '/ready', undefined, { auth: null })).status).toBe(200);
    } finally {
      await lonely.close();
      await redis.stop();
      await restarted?.stop();
    }
  });
});
