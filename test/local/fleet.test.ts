import { mkdtempSync, rmSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { NodeRegistration, RegistryReader, createRedis, untilReady } from '../../runtime/contract';
import { ClusterFleet, type FleetEvent, type NodeHandle, type NodeSpec } from '../../local/fleet';
import { Haproxy, startHaproxy } from '../../local/haproxy';
import { freePort, waitFor } from '../../local/ports';
import { RedisServer, startRedisServer } from '../../local/redis-server';
import { Watchdog } from '../../runtime/watchdog/watchdog';
import { probeLive } from '../../runtime/watchdog/probe';

const TTL_MS = 400;
const dir = mkdtempSync(join(tmpdir(), 'rtc-fleet-test-'));
let redisServer: RedisServer;
let redis: Redis;
let haproxy: Haproxy;

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = await untilReady(createRedis({ url: redisServer.url }));
  haproxy = await startHaproxy({
    port: await freePort(),
    statsPort: await freePort(),
    socketPath: join(dir, 'haproxy.sock'),
    slots: 8,
    dir,
    logFile: join(dir, 'haproxy.log'),
  });
});
afterAll(async () => {
  await haproxy?.stop();
  redis?.disconnect();
  await redisServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * An in-process stand-in for a node process: heartbeats into the registry and answers /live and
 * /ready. SIGKILL is a crash (no more heartbeats, port closed); SIGTERM a clean exit.
 */
async function fakeNode(spec: NodeSpec, prefix: string): Promise<NodeHandle & { server: Server }> {
  const server = createServer((req, res) => res.end(req.url));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const registration = new NodeRegistration(
    redis,
    { ...spec, address: `127.0.0.1:${port}`, version: 'test', startedAt: Date.now() },
    prefix,
  );
  const beat = () =>
    registration.heartbeat({ state: 'active', load: { cpu: 0, sessions: 0, connections: 0, capacity: 10 } });
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), TTL_MS / 4);
  let exit!: () => void;
  const exited = new Promise<void>((resolve) => (exit = resolve));
  const die = () => {
    clearInterval(timer);
    server.closeAllConnections();
    server.close(() => exit());
  };
  return {
    server,
    pid: undefined,
    port,
    exited,
    kill: (signal) => {
      if (signal === 'SIGKILL') die();
    },
    stop: async () => {
      die();
      await registration.deregister();
      await exited;
    },
  };
}

function fleetUnderTest(prefix: string, launch = (spec: NodeSpec) => fakeNode(spec, prefix)) {
  const events: FleetEvent[] = [];
  const fleet = new ClusterFleet({ launch, haproxy, logDir: dir, onEvent: (e) => events.push(e) });
  const policy = { maxFlagsPerCycle: 1, graceMs: 0, minHealthyShare: 0.5 };
  const watchdog = new Watchdog({
    registry: new RegistryReader(redis, prefix, TTL_MS),
    fleet: fleet.watchdogFleet,
    probe: (address) => probeLive(address, 300),
    policy: { master: policy, media: policy },
    dimensions: { Cluster: 'test' },
    sink: () => undefined,
  });
  return { fleet, watchdog, events };
}

const routed = async () =>
  (await haproxy.slots()).flatMap((s) => (s.key && s.status !== 'MAINT' ? [s.key] : [])).sort();

describe('ClusterFleet', () => {
  test('GIVEN a crashed master WHEN the watchdog flags it THEN it is killed and replaced under a new node id', async () => {
    const { fleet, watchdog, events } = fleetUnderTest('crash');
    try {
      await fleet.start({ master: 3, media: 1 });
      expect(await routed()).toEqual(['master-1', 'master-2', 'master-3']);

      fleet.member('local-master-2')!.handle.kill('SIGKILL');
      await waitFor(
        'the watchdog to flag master-2',
        async () => (await watchdog.cycle()).decisions.some((d) => d.action === 'flag'),
        5_000,
        100,
      );
      await waitFor(
        'the replacement',
        () => fleet.members('master').length === 3 && !fleet.member('local-master-2'),
      );
      expect(
        fleet
          .members()
          .map((m) => m.nodeId)
          .sort(),
      ).toEqual(['master-1', 'master-3', 'master-4', 'media-1']);
      expect(await routed()).toEqual(['master-1', 'master-3', 'master-4']);
      expect(events.map((e) => `${e.type}:${'member' in e ? e.member.nodeId : ''}`).slice(-2)).toEqual([
        'terminating:master-2',
        'launched:master-4',
      ]);
      expect(events.at(-1)).toMatchObject({ type: 'launched', replaces: 'master-2' });

      // the next cycles see a healthy fleet again: no flag, no replacement
      const next = await watchdog.cycle();
      expect(next.counts.flag).toBe(0);
    } finally {
      await fleet.stop();
    }
    expect(await routed()).toEqual(['master-1', 'master-3', 'master-4']); // stop() leaves HAProxy to its owner
  });

  test('refresh launches the new node first, then drains and removes the old one', async () => {
    const { fleet, events } = fleetUnderTest('refresh');
    try {
      await fleet.start({ master: 1 });
      const fresh = await fleet.refresh('local-master-1');
      expect(fresh?.nodeId).toBe('master-2');
      expect(fleet.members().map((m) => m.nodeId)).toEqual(['master-2']);
      expect(events.map((e) => e.type)).toEqual(['launched', 'launched', 'terminating']);
      expect((await haproxy.slots()).find((s) => s.key === 'master-1')).toBeUndefined();
      expect(await fleet.replace('local-master-1', 'gone already')).toBeUndefined();
    } finally {
      await fleet.stop();
    }
  });

  test('a node that fails to start is retried, then the launch fails with its reason', async () => {
    let calls = 0;
    const { fleet, events } = fleetUnderTest('fail', async () => {
      calls += 1;
      throw new Error('port 1234 in use');
    });
    await expect(fleet.start({ media: 1 })).rejects.toThrow('port 1234 in use');
    expect(calls).toBe(3);
    expect(events).toEqual(
      [1, 2, 3].map((attempt) => ({
        type: 'launch-failed',
        role: 'media',
        attempt,
        error: 'port 1234 in use',
      })),
    );
    expect(fleet.members()).toEqual([]);
  });
});
