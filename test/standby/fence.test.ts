/**
 * A takeover's fence against real redis-servers: the old active's store holds its media agent's
 * registration, the standby's store copies it, and once promoted, the new active removes every media
 * registration but its own node's (Store.fenceMediaNodes, as the agent runs it right after
 * REPLICAOF NO ONE). What the registry then reads is what the masters act on.
 */
import type Redis from 'ioredis';
import { waitFor } from '../../local/ports';
import { RedisServer, startRedisServer } from '../../local/redis-server';
import {
  Keys,
  NodeIdentity,
  NodeRegistration,
  NodeRole,
  RegistryReader,
  createRedis,
  untilReady,
} from '../../runtime/contract';
import { Store } from '../../runtime/standby/store';

const PREFIX = 'rtc';
const identity = (nodeId: string, role: NodeRole): NodeIdentity => ({
  nodeId,
  role,
  instanceId: nodeId,
  address: `127.0.0.1:${role === 'media' ? 9090 : 8080}`,
  version: 'test',
  startedAt: Date.now(),
});
const LOAD = { cpu: 0.1, sessions: 1, connections: 2, capacity: 100 };

describe('fencing the old active’s media agent at takeover', () => {
  let oldActive: RedisServer;
  let standby: RedisServer;
  const clients: Redis[] = [];
  const stores: Store[] = [];
  const client = async (server: RedisServer) => {
    const redis = await untilReady(createRedis({ url: server.url }));
    clients.push(redis);
    return redis;
  };

  beforeAll(async () => {
    [oldActive, standby] = await Promise.all([startRedisServer(), startRedisServer()]);
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    for (const c of clients) c.disconnect();
    await Promise.all([oldActive?.stop(), standby?.stop()]);
  });

  test('the promoted store lists no media node of the old active live; its identity stays, its own media node lives on', async () => {
    // GIVEN the old active's store with its media agent, its master and a room placed on that agent
    const primary = await client(oldActive);
    await primary.config('SET', 'repl-diskless-sync-delay', '0'); // as storeConf: copy at once
    for (const who of [identity('media-a', 'media'), identity('master-a', 'master')]) {
      await new NodeRegistration(primary, who, PREFIX).heartbeat({ state: 'active', load: LOAD });
    }
    await primary.sadd(new Keys(PREFIX).mediaSessions('media-a'), 'room-1');
    // ... copied by the standby's store (diskless load: nothing written into the checkout)
    const replica = await client(standby);
    await replica.config('SET', 'repl-diskless-load', 'swapdb');
    const store = new Store('127.0.0.1', standby.port, { timeoutMs: 500, name: 'fence-test' });
    stores.push(store);
    await waitFor('the standby’s store', async () => (await store.view()) !== undefined);
    await store.follow('127.0.0.1', oldActive.port);
    await waitFor('the standby in sync', async () => {
      const view = await store.view();
      return view?.role === 'replica' && view.linkUp && !view.syncing;
    });
    // A long TTL: what tells the nodes apart here is the live record, not a slow machine's clock.
    const reader = new RegistryReader(replica, PREFIX, 60_000);
    await waitFor('the registrations copied', async () => (await reader.nodes()).length === 2);
    expect((await reader.nodes('media')).map((n) => [n.identity.nodeId, n.expired])).toEqual([
      ['media-a', false],
    ]);

    // WHEN the standby takes over: promote, then fence keeping its own media node (not registered yet)
    await store.promote();
    const removed = await store.fenceMediaNodes('media-b', PREFIX);

    // THEN the old active's media node reads as expired at once, still known (the masters move its
    // rooms: media-placement.ts replaceExpired), and the master's registration is untouched
    expect(removed).toEqual(['media-a']);
    const media = await reader.nodes('media');
    expect(media).toEqual([
      expect.objectContaining({ identity: expect.objectContaining({ nodeId: 'media-a' }), expired: true }),
    ]);
    expect(media[0].live).toBeUndefined();
    expect(await replica.smembers(new Keys(PREFIX).mediaSessions('media-a'))).toEqual(['room-1']);
    expect((await reader.nodes('master')).map((n) => [n.identity.nodeId, n.expired])).toEqual([
      ['master-a', false],
    ]);
    expect(await reader.reserveMedia('room-2')).toBeUndefined(); // nothing placed on it any more

    // AND the new active's own media agent registers and is kept by a second fence (a takeover again)
    await new NodeRegistration(replica, identity('media-b', 'media'), PREFIX).heartbeat({
      state: 'active',
      load: LOAD,
    });
    expect(await store.fenceMediaNodes('media-b', PREFIX)).toEqual([]);
    expect((await reader.nodes('media')).map((n) => [n.identity.nodeId, n.expired])).toEqual([
      ['media-a', true],
      ['media-b', false],
    ]);
    expect((await reader.reserveMedia('room-2'))?.identity.nodeId).toBe('media-b');
  });

  test('a store that does not answer: the fence fails fast (the agent logs it and takes over anyway)', async () => {
    const store = new Store('127.0.0.1', standby.port, { timeoutMs: 300, name: 'fence-test' });
    stores.push(store);
    await waitFor('the store', async () => (await store.view()) !== undefined);
    standby.pause();
    try {
      const started = Date.now();
      await expect(store.fenceMediaNodes('media-b', PREFIX)).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      standby.resume();
    }
  });
});
