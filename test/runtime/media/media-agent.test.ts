import { Keys, RegistryReader } from '../../../runtime/contract';
import { startNodeProcess } from '../../../local/node-process';
import { freePort, waitFor } from '../../../local/ports';
import { MediaAgentHandle, startMediaAgent } from '../../../runtime/media/agent';
import { MediaConfig, mediaConfigFromEnv } from '../../../runtime/media/config';
import { silentLogger } from '../../../runtime/node/log';
import { FAST, TestRegistry, startRegistry } from '../master/support/harness';

let registry: TestRegistry;
let reader: RegistryReader;
const keys = new Keys('rtc');
let agents = 0;

beforeAll(async () => {
  registry = await startRegistry();
  reader = new RegistryReader(registry.redis, 'rtc', FAST.heartbeatTtlMs);
});
afterAll(() => registry.stop());

function config(overrides: Partial<MediaConfig> = {}): MediaConfig {
  const nodeId = `media-${++agents}`;
  return {
    nodeId,
    instanceId: `i-${nodeId}`,
    listenHost: '127.0.0.1',
    port: 0,
    redisUrl: registry.server.url,
    keyPrefix: 'rtc',
    drainDeadlineMs: 3_000,
    ...FAST,
    capacity: 7,
    mediaPortMin: 40_000,
    mediaPortMax: 40_100,
    janus: 'off',
    ...overrides,
  };
}

async function view(nodeId: string) {
  return (await reader.nodes('media')).find((n) => n.identity.nodeId === nodeId);
}

async function started(overrides: Partial<MediaConfig> = {}): Promise<MediaAgentHandle> {
  const agent = await startMediaAgent(config(overrides), silentLogger);
  await waitFor('agent ready', () => agent.readiness().length === 0);
  return agent;
}

test('config: capacity 100 and control port 9090 by default', () => {
  expect(mediaConfigFromEnv({ RTC_REDIS_URL: 'redis://r:6379' })).toMatchObject({
    ok: true,
    config: { capacity: 100, port: 9090, mediaPortMin: 40_000, mediaPortMax: 49_999 },
  });
  const bad = mediaConfigFromEnv({ RTC_REDIS_URL: 'redis://r:6379', RTC_MEDIA_CAPACITY: '0' });
  expect(bad).toMatchObject({ ok: false, problems: [expect.stringMatching(/^RTC_MEDIA_CAPACITY/)] });
});

test('registers as a media node with its capacity, public address and the sessions placed on it', async () => {
  const agent = await started({ publicAddress: 'media.example.com' });
  try {
    expect(await view(agent.nodeId)).toMatchObject({
      expired: false,
      identity: { role: 'media', instanceId: `i-${agent.nodeId}`, publicAddress: 'media.example.com' },
      live: { state: 'active', load: { sessions: 0, connections: 0, capacity: 7 } },
    });
    await registry.redis.sadd(keys.mediaSessions(agent.nodeId), 's1', 's2', 's3');
    await waitFor('load.sessions 3', async () => (await view(agent.nodeId))?.live?.load.sessions === 3);
    const cpu = (await view(agent.nodeId))!.live!.load.cpu;
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThanOrEqual(1);
    const live = await fetch(`${agent.url}/live`);
    const ready = await fetch(`${agent.url}/ready`);
    expect([live.status, ready.status]).toEqual([200, 200]);
  } finally {
    await agent.close();
  }
  // A clean stop removes its live record at once (its identity stays for the watchdog).
  expect((await view(agent.nodeId))?.live).toBeUndefined();
});

test('without Redis it is live but not ready', async () => {
  const agent = await startMediaAgent(
    config({ redisUrl: `redis://127.0.0.1:${await freePort()}` }),
    silentLogger,
  );
  try {
    await waitFor('a failed heartbeat', () => agent.readiness().length > 0);
    expect((await fetch(`${agent.url}/live`)).status).toBe(200);
    const ready = await fetch(`${agent.url}/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).reasons).toEqual(['starting']);
  } finally {
    await agent.close();
  }
});

test('drain: draining at once, and it stops and leaves once no session is placed on it', async () => {
  const agent = await started();
  await registry.redis.sadd(keys.mediaSessions(agent.nodeId), 'busy');
  const drained = agent.drain();
  expect(agent.readiness()).toContain('draining');
  await waitFor(
    'draining in the registry',
    async () => (await view(agent.nodeId))?.live?.state === 'draining',
  );
  await registry.redis.srem(keys.mediaSessions(agent.nodeId), 'busy');
  await drained;
  expect((await view(agent.nodeId))?.live).toBeUndefined();
});

test('drain past its deadline with sessions left: it stops but stays in the registry to expire', async () => {
  const agent = await started({ drainDeadlineMs: 500 });
  await registry.redis.sadd(keys.mediaSessions(agent.nodeId), 'stuck');
  const t0 = Date.now();
  await agent.drain();
  expect(Date.now() - t0).toBeLessThan(2_000);
  await waitFor('expired', async () => (await view(agent.nodeId))?.expired === true);
});

test('the process drains on SIGTERM and exits 0', async () => {
  const node = await startNodeProcess({
    kind: 'media',
    env: {
      RTC_REDIS_URL: registry.server.url,
      RTC_HEARTBEAT_INTERVAL_MS: '100',
      RTC_HEARTBEAT_TTL_MS: '400',
    },
  });
  expect((await view(node.nodeId))?.live?.state).toBe('active');
  node.kill('SIGTERM');
  expect(await node.exited).toEqual({ code: 0, signal: null });
  expect(node.events().map((e) => e.event)).toEqual(
    expect.arrayContaining(['node_started', 'signal', 'drain_started', 'drain_done', 'node_stopped']),
  );
  expect((await view(node.nodeId))?.live).toBeUndefined();
});
