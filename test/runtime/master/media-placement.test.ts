import {
  DEFAULT_TURN_CREDENTIAL_TTL_SECONDS,
  RegistryReader,
  SessionStore,
  turnCredentials,
} from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import type { MasterConfig } from '../../../runtime/master/config';
import type { MasterHandle } from '../../../runtime/master/master';
import {
  Api,
  FAST,
  FakeMediaNode,
  TestRegistry,
  sessionState,
  startRegistry,
  startTestMaster,
} from './support/harness';
import { TestSocket } from './support/ws-client';

let registry: TestRegistry;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  registry = await startRegistry();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => registry.stop());

/** Masters, media nodes and a store on a key prefix of the test's own, so tests cannot meet. */
async function world(prefix: string, masters = 1, overrides: Partial<MasterConfig> = {}) {
  const started: MasterHandle[] = [];
  for (let i = 0; i < masters; i++) {
    const master = await startTestMaster(registry.server.url, { keyPrefix: prefix, ...overrides });
    cleanups.push(() => master.close());
    started.push(master);
  }
  const media = async (nodeId: string, load = { sessions: 0, connections: 0, capacity: 100 }) => {
    const node = await new FakeMediaNode(registry.redis, nodeId, { ...load }, 'active', prefix).start();
    cleanups.push(() => node.stop());
    return node;
  };
  return {
    masters: started,
    api: new Api(started[0].url),
    media,
    store: new SessionStore(registry.redis, { prefix }),
  };
}

test('no ready media node: 503 no_media_node, and nothing is created', async () => {
  const { api, media } = await world('none');
  const draining = await media('media-draining');
  draining.state = 'draining';
  await media('media-full', { sessions: 5, connections: 0, capacity: 5 });
  await new Promise((r) => setTimeout(r, 2 * FAST.heartbeatIntervalMs)); // the draining state is published
  const before = await sessionState(registry.redis, 'none');
  const reply = await api.call('POST', '/v1/sessions', { sessionId: 'room' });
  expect(reply.status).toBe(503);
  expect(reply.body.error.code).toBe('no_media_node');
  expect(await sessionState(registry.redis, 'none')).toEqual(before);
});

test('a new session goes to the least loaded ready media node', async () => {
  const { api, media } = await world('least');
  const busy = await media('media-busy', { sessions: 60, connections: 0, capacity: 100 });
  await media('media-idle', { sessions: 10, connections: 0, capacity: 100 });
  expect((await api.createSession('first')).body.mediaNode).toEqual({
    nodeId: 'media-idle',
    address: 'media-idle.media.example',
  });
  busy.load.sessions = 0;
  const reader = new RegistryReader(registry.redis, 'least', FAST.heartbeatTtlMs);
  await waitFor('media-busy reported idle', async () =>
    (await reader.nodes('media')).some(
      (n) => n.identity.nodeId === 'media-busy' && n.live?.load.sessions === 0,
    ),
  );
  expect((await api.createSession('second')).body.mediaNode.nodeId).toBe('media-busy');
});

test('when a media node dies, one master moves its sessions and the participants get mediaNodeChanged', async () => {
  const { masters, api, media, store } = await world('expiry', 2);
  const dying = await media('media-dying');
  await api.createSession('moving');
  const sockets: TestSocket[] = [];
  for (const [i, pid] of ['alice', 'bob'].entries()) {
    const s = await TestSocket.open(masters[i].url); // one participant on each master
    cleanups.push(() => s.terminate());
    s.send({ type: 'join', token: await api.token('moving', pid) });
    expect((await s.next({ type: 'joined' })).mediaNode.nodeId).toBe('media-dying');
    sockets.push(s);
  }
  await media('media-next');

  dying.stop();
  for (const s of sockets) {
    expect(await s.next({ type: 'mediaNodeChanged' })).toMatchObject({
      mediaNode: { nodeId: 'media-next', address: 'media-next.media.example' },
    });
  }
  expect((await api.call('GET', '/v1/sessions/moving')).body.mediaNode.nodeId).toBe('media-next');
  expect(await store.sessionsOnMediaNode('media-dying')).toEqual([]);
  expect(await store.sessionsOnMediaNode('media-next')).toEqual(['moving']);
  // Moved once, although both masters saw the node expire.
  await new Promise((r) => setTimeout(r, 4 * FAST.heartbeatIntervalMs));
  for (const s of sockets) expect(s.ofType('mediaNodeChanged')).toHaveLength(1);
});

test("a dead media node's sessions wait until a media node is ready", async () => {
  const { masters, api, media, store } = await world('waiting');
  const only = await media('media-only');
  await api.createSession('stranded');
  const s = await TestSocket.open(masters[0].url);
  cleanups.push(() => s.terminate());
  s.send({ type: 'join', token: await api.token('stranded', 'alice') });
  await s.next({ type: 'joined' });

  only.stop();
  await new Promise((r) => setTimeout(r, FAST.heartbeatTtlMs + 3 * FAST.heartbeatIntervalMs));
  expect(s.ofType('mediaNodeChanged')).toEqual([]);
  expect(await store.sessionsOnMediaNode('media-only')).toEqual(['stranded']);

  await media('media-rescue');
  expect(await s.next({ type: 'mediaNodeChanged' })).toMatchObject({ mediaNode: { nodeId: 'media-rescue' } });
});

test("a draining media node's sessions are handed over (make-before-break) to a ready one", async () => {
  const { masters, api, media, store } = await world('draining');
  const old = await media('media-old');
  await api.createSession('handover');
  const s = await TestSocket.open(masters[0].url);
  cleanups.push(() => s.terminate());
  s.send({ type: 'join', token: await api.token('handover', 'alice') });
  expect((await s.next({ type: 'joined' })).mediaNode.nodeId).toBe('media-old');
  await media('media-new');

  // The heartbeat's pass is the backstop of the agent's own word to the masters.
  old.state = 'draining';
  expect(await s.next({ type: 'mediaNodeChanged' })).toMatchObject({
    mediaNode: { nodeId: 'media-new' },
    handover: true,
  });
  expect(await store.sessionsOnMediaNode('media-old')).toEqual([]);
  await new Promise((r) => setTimeout(r, 4 * FAST.heartbeatIntervalMs));
  expect(s.ofType('mediaNodeChanged')).toHaveLength(1);
});

test('with TURN, each participant gets its own fresh credentials for the new node; the mailboxes hold none', async () => {
  const turn = { secret: 'turn-secret-0123456789', port: 443 };
  const { masters, api, media } = await world('turn', 2, { turn });
  const dying = await media('media-dying');
  await api.createSession('relayed');
  const sockets: TestSocket[] = [];
  for (const [i, pid] of ['alice', 'bob'].entries()) {
    const s = await TestSocket.open(masters[i].url);
    cleanups.push(() => s.terminate());
    s.send({ type: 'join', token: await api.token('relayed', pid) });
    const joined = await s.next({ type: 'joined' });
    expect(joined.iceServers.map((server: { urls: string[] }) => server.urls)).toEqual([
      [
        'turn:media-dying.media.example:443?transport=udp',
        'turn:media-dying.media.example:443?transport=tcp',
      ],
    ]);
    expect(joined.iceServers[0].username).toMatch(new RegExp(`:${Buffer.from(pid).toString('hex')}$`));
    sockets.push(s);
  }
  await media('media-next');

  dying.stop();
  for (const [i, pid] of ['alice', 'bob'].entries()) {
    const changed = await sockets[i].next({ type: 'mediaNodeChanged' });
    const [server] = changed.iceServers;
    expect(server.urls).toEqual([
      'turn:media-next.media.example:443?transport=udp',
      'turn:media-next.media.example:443?transport=tcp',
    ]);
    const id = server.username.split(':')[1];
    expect(Buffer.from(id, 'hex').toString()).toBe(pid);
    expect(server.credential).toBe(
      turnCredentials(
        turn.secret,
        pid,
        Number(server.username.split(':')[0]) * 1000 - DEFAULT_TURN_CREDENTIAL_TTL_SECONDS * 1000,
      ).credential,
    );
  }
  const stored = await registry.redis.keys('turn*');
  const values = await Promise.all(
    stored.map(async (key) => {
      const type = await registry.redis.type(key);
      if (type === 'list') return (await registry.redis.lrange(key, 0, -1)).join('\n');
      if (type === 'zset') return (await registry.redis.zrange(key, 0, -1)).join('\n');
      if (type === 'hash') return JSON.stringify(await registry.redis.hgetall(key));
      if (type === 'string') return (await registry.redis.get(key)) ?? '';
      return '';
    }),
  );
  expect(values.join('\n')).toContain('mediaNodeChanged');
  expect(values.join('\n')).not.toContain('credential');
});
