/**
 * The watchdog against a real redis-server and real master processes: heartbeats written by
 * runtime/contract's NodeRegistration read back by the watchdog's reader, a booting node left
 * alone until it registered, a SIGKILLed master flagged, a paused Redis held on, never flagged,
 * and the run lock that keeps two runs from overlapping.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Redis from 'ioredis';
import { Keys } from '../../../runtime/contract/keys';
import { createRedis, untilReady } from '../../../runtime/contract/redis';
import { NodeRegistration } from '../../../runtime/contract/registry';
import { startNodeProcess, type NodeProcess } from '../../../local/node-process';
import { startRedisServer, type RedisServer } from '../../../local/redis-server';
import { LocalFleet, type LocalNode } from '../../../runtime/watchdog/local';
import { probeLive } from '../../../runtime/watchdog/probe';
import {
  connectRegistry,
  observeRegistry,
  type RegistryConnection,
} from '../../../runtime/watchdog/registry';
import { Watchdog } from '../../../runtime/watchdog/watchdog';

let server: RedisServer;
let writer: Redis;
let registry: RegistryConnection;

beforeAll(async () => {
  server = await startRedisServer();
  writer = await untilReady(createRedis({ url: server.url }));
  registry = await connectRegistry({ url: server.url, keyPrefix: 'wd', heartbeatTtlMs: 300 });
});

afterAll(async () => {
  registry?.close();
  writer?.disconnect();
  await server?.stop();
});

const identity = (nodeId: string) => ({
  nodeId,
  role: 'master' as const,
  instanceId: `i-${nodeId}`,
  address: '127.0.0.1:1',
  version: 'test',
  startedAt: Date.now(),
});
const beat = { state: 'active', load: { cpu: 0, sessions: 0, connections: 0, capacity: 10 } } as const;

describe('the registry reader on a real redis-server', () => {
  test('reads back what NodeRegistration wrote, fresh, then expired once the TTL passed', async () => {
    const n1 = identity('n1');
    const node = new NodeRegistration(writer, n1, 'wd');
    await node.heartbeat(beat);

    const fresh = await observeRegistry(registry.reader);
    expect(fresh).toEqual({
      reachable: true,
      nodes: [expect.objectContaining({ identity: n1, expired: false, live: beat })],
    });

    await sleep(400);
    const stale = await observeRegistry(registry.reader);
    expect(stale).toEqual({
      reachable: true,
      nodes: [expect.objectContaining({ expired: true, live: undefined })],
    });
    expect(stale.reachable && stale.nodes[0].heartbeatAgeMs).toBeGreaterThanOrEqual(300);
    await node.deregister();
  });

  test('a paused Redis reads as unreachable (not as every node stale) within the command timeout', async () => {
    server.pause();
    try {
      const started = Date.now();
      const paused = await observeRegistry(registry.reader);
      expect(paused).toEqual({ reachable: false, error: expect.stringMatching(/^registry unreachable: /) });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      server.resume();
    }
    await expect(observeRegistry(registry.reader)).resolves.toMatchObject({ reachable: true });
  });
});

describe('the watchdog with real master processes', () => {
  const prefix = 'wdm';
  const flagged: LocalNode[] = [];
  const lines: Record<string, unknown>[] = [];
  const fleet = new LocalFleet({
    groups: [{ role: 'master', groupName: 'masters' }],
    onUnhealthy: (node) => void flagged.push(node),
  });
  let masters: NodeProcess[] = [];
  let masterRegistry: RegistryConnection;
  const abort = new AbortController();
  let run: Promise<unknown>;

  beforeAll(async () => {
    masters = await Promise.all(
      [1, 2, 3].map((n) =>
        startNodeProcess({
          kind: 'master',
          env: {
            RTC_NODE_ID: `wd-master-${n}`,
            RTC_INSTANCE_ID: `i-wd-master-${n}`,
            RTC_REDIS_URL: server.url,
            RTC_KEY_PREFIX: prefix,
            RTC_API_SECRET: 'watchdog-test-api-secret',
          },
        }),
      ),
    );
    for (const m of masters) {
      fleet.add({
        instanceId: `i-${m.nodeId}`,
        groupName: 'masters',
        pid: m.pid,
        launchedAt: Date.now() - 600_000,
      });
    }
    masterRegistry = await connectRegistry({ url: server.url, keyPrefix: prefix });
    const watchdog = new Watchdog({
      registry: masterRegistry.reader,
      fleet,
      probe: (address) => probeLive(address, 500),
      dimensions: { Cluster: 'test' },
      sink: (line) => void lines.push({ at: Date.now(), ...line }),
    });
    run = watchdog.run({ cycleMs: 250, signal: abort.signal });
  });

  afterAll(async () => {
    abort.abort();
    await run;
    masterRegistry?.close();
    await Promise.all(masters.map((m) => m.stop(1_000)));
  });

  const decisions = (action: string, since = 0) =>
    lines.filter((l) => l.action === action && (l.at as number) >= since);

  test('a SIGKILLed master is flagged within heartbeat TTL + a cycle; the others are left alone', async () => {
    await sleep(1_000);
    expect(decisions('flag')).toEqual([]);
    expect(decisions('suspect')).toEqual([]);

    const victim = masters[1];
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    while (flagged.length === 0 && Date.now() - killedAt < 8_000) await sleep(20);
    const detectedMs = Date.now() - killedAt;

    expect(flagged.map((n) => n.instanceId)).toEqual([`i-${victim.nodeId}`]);
    expect(detectedMs).toBeLessThan(5_000);
    const [flag] = decisions('flag');
    expect(flag).toMatchObject({ node: { instanceId: `i-${victim.nodeId}` }, applied: true });
    expect((flag.signals as { kind: string }[]).map((s) => s.kind)).toEqual([
      'heartbeat-expired',
      'live-failed',
      'instance-not-running',
    ]);
  });

  test('Redis paused for 4 s: the watchdog holds, flags nothing, and resumes judging', async () => {
    const before = flagged.length;
    const pausedAt = Date.now();
    server.pause();
    await sleep(4_000);
    server.resume();
    await sleep(3_000);

    expect(flagged.length).toBe(before);
    expect(decisions('flag', pausedAt)).toEqual([]);
    expect(decisions('hold', pausedAt)).toContainEqual(
      expect.objectContaining({ rail: 'registry-unreachable' }),
    );
    const last = lines.filter((l) => l._aws).at(-1);
    expect(last).toMatchObject({ Flags: 0, Holds: 0 });
  });
});

describe('a booting node is judged only once registered (within its boot deadline), on a real redis-server', () => {
  const prefix = 'wdb';
  let connection: RegistryConnection;
  const flagged: string[] = [];
  const fleet = new LocalFleet({
    groups: [{ role: 'master', groupName: 'masters' }],
    onUnhealthy: (node) => void flagged.push(node.instanceId),
  });
  const bootIdentity = { ...identity('boot'), address: '127.0.0.1:1' }; // nothing listens: /live fails

  beforeAll(async () => {
    connection = await connectRegistry({ url: server.url, keyPrefix: prefix, heartbeatTtlMs: 300 });
    for (const id of ['a', 'b', 'c']) {
      await new NodeRegistration(writer, identity(id), prefix).heartbeat(beat);
      fleet.add({ instanceId: `i-${id}`, groupName: 'masters', launchedAt: Date.now() - 3_600_000 });
    }
    // Launched 15 minutes ago: past the grace, within the boot deadline (1800 s): never judged unregistered.
    fleet.add({
      instanceId: bootIdentity.instanceId,
      groupName: 'masters',
      launchedAt: Date.now() - 900_000,
    });
  });

  afterAll(() => connection?.close());

  test('never registered: ignored; registered, then expired with /live failing: flagged', async () => {
    const watchdog = new Watchdog({
      registry: connection.reader,
      fleet,
      probe: (address) => probeLive(address, 300),
      dimensions: { Cluster: 'test' },
      sink: () => undefined,
    });
    // The others beat before every cycle (their TTL is short), so only the booted node can fall silent.
    const cycle = async () => {
      for (const id of ['a', 'b', 'c'])
        await new NodeRegistration(writer, identity(id), prefix).heartbeat(beat);
      return (await watchdog.cycle()).decisions;
    };
    expect(await cycle()).toEqual([
      expect.objectContaining({ action: 'ignore', reason: 'not-registered', node: expect.anything() }),
    ]);

    await new NodeRegistration(writer, bootIdentity, prefix).heartbeat(beat);
    expect(await cycle()).toEqual([]);

    await sleep(400);
    const [flag] = await cycle();
    expect(flag).toMatchObject({ action: 'flag', node: { instanceId: bootIdentity.instanceId } });
    expect(flag.action === 'flag' && flag.signals.map((sig) => sig.kind)).toEqual([
      'heartbeat-expired',
      'live-failed',
    ]);
    expect(flagged).toEqual([bootIdentity.instanceId]);
  });
});

describe('the run lock on a real redis-server', () => {
  const prefix = 'wdl';
  const key = new Keys(prefix).watchdogLock();
  const connections: RegistryConnection[] = [];
  const connect = async () => {
    const c = await connectRegistry({ url: server.url, keyPrefix: prefix, heartbeatTtlMs: 300 });
    connections.push(c);
    return c;
  };

  afterAll(() => connections.forEach((c) => c.close()));

  test('two concurrent runs: one runs, the other skips; the lock is released after the run', async () => {
    const runs = await Promise.all(
      [await connect(), await connect()].map((c) => {
        const watchdog = new Watchdog({
          registry: c.reader,
          fleet: new LocalFleet({ groups: [{ role: 'master', groupName: 'masters' }] }),
          probe: probeLive,
          dimensions: { Cluster: 'test' },
          sink: () => undefined,
        });
        let cycles = 3;
        return watchdog.run({
          cycleMs: 50,
          shouldContinue: () => cycles-- > 0,
          lock: { runLock: c.runLock, ttlMs: () => 10_000 },
        });
      }),
    );

    expect(runs.map((r) => r.skipped ?? r.cycles).sort()).toEqual([3, 'lock held']);
    await expect(writer.exists(key)).resolves.toBe(0);
  });

  test("a crashed holder's lock expires; only the holder releases it", async () => {
    const crashed = (await connect()).runLock;
    const next = (await connect()).runLock;
    await expect(crashed.take(300)).resolves.toBe(true); // and never released

    await expect(next.take(10_000)).resolves.toBe(false);
    await sleep(400);
    await expect(next.take(10_000)).resolves.toBe(true);

    await crashed.release(); // too late: the lock is the next run's now
    await expect(writer.exists(key)).resolves.toBe(1);
    await next.release();
    await expect(writer.exists(key)).resolves.toBe(0);
  });
});
