import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../local/ports';
import { RedisServer, startRedisServer } from '../../local/redis-server';
import { createRedis } from '../../runtime/contract';
import { Store, parseReplication, storeConf } from '../../runtime/standby/store';

describe('parseReplication', () => {
  test('a master', () => {
    expect(
      parseReplication('# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:4242\r\n'),
    ).toEqual({
      role: 'master',
      linkUp: true,
      syncing: false,
      offset: 4242,
    });
  });

  test('a replica copying its master', () => {
    const info = [
      'role:slave',
      'master_host:10.0.2.10',
      'master_port:6379',
      'master_link_status:down',
      'master_sync_in_progress:1',
      'slave_repl_offset:17',
      'master_repl_offset:17',
    ].join('\r\n');
    expect(parseReplication(info)).toEqual({
      role: 'replica',
      following: { host: '10.0.2.10', port: 6379 },
      linkUp: false,
      syncing: true,
      offset: 17,
    });
  });
});

test('storeConf: no persistence, immediate diskless copies, one password both ways', () => {
  const conf = storeConf({
    port: 6379,
    bind: ['127.0.0.1', '10.0.1.10'],
    dir: '/var/lib/rtc-ha',
    password: 'pw',
  });
  expect(conf.split('\n')).toEqual(
    expect.arrayContaining([
      'bind 127.0.0.1 10.0.1.10',
      'save ""',
      'appendonly no',
      'repl-diskless-sync-delay 0',
      'requirepass pw',
      'masterauth pw',
    ]),
  );
  expect(conf).not.toContain('protected-mode no');
});

describe('Store against real redis-servers', () => {
  let one: RedisServer;
  let two: RedisServer;
  let stores: Store[] = [];
  const store = (server: RedisServer) => {
    const s = new Store('127.0.0.1', server.port, { timeoutMs: 500, name: 'test' });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    [one, two] = await Promise.all([startRedisServer(), startRedisServer()]);
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    stores = [];
    await Promise.all([one?.stop(), two?.stop()]);
  });

  test('follow makes a replica that copies, promote a master again that keeps the copy', async () => {
    const primary = store(one);
    const standby = store(two);
    await waitFor(
      'both stores',
      async () => (await primary.view()) !== undefined && (await standby.view()) !== undefined,
    );
    const writer = createRedis({ url: one.url });
    await waitFor('a client of the primary', async () => (await writer.ping()) === 'PONG');
    await writer.set('k', 'v');
    writer.disconnect();

    // Loaded from the socket: by default a replica writes its copy into its folder (the checkout).
    const admin = createRedis({ url: two.url });
    try {
      await waitFor('a client of the replica', async () => (await admin.ping()) === 'PONG');
      await admin.config('SET', 'repl-diskless-load', 'swapdb');
    } finally {
      admin.disconnect();
    }
    await standby.follow('127.0.0.1', one.port);
    await waitFor('the replica in sync', async () => {
      const view = await standby.view();
      return view?.role === 'replica' && view.linkUp && !view.syncing;
    });
    expect((await standby.view())?.following).toEqual({ host: '127.0.0.1', port: one.port });

    await standby.promote();
    expect((await standby.view())?.role).toBe('master');
    const reader = createRedis({ url: two.url });
    await waitFor('a client of the promoted store', async () => (await reader.ping()) === 'PONG');
    expect(await reader.get('k')).toBe('v');
    await reader.set('written', 'after the promotion'); // a replica would refuse it (READONLY)
    reader.disconnect();
  });

  test('paused writes wait (reads do not) until the store is promoted', async () => {
    const fenced = store(one);
    await waitFor('the store', async () => (await fenced.view()) !== undefined);
    // Two connections: a waiting write holds up whatever its connection sends after it.
    const [writer, reader] = [
      createRedis({ url: one.url, commandTimeoutMs: 5_000 }),
      createRedis({ url: one.url }),
    ];
    await waitFor(
      'the clients',
      async () => (await writer.ping()) === 'PONG' && (await reader.ping()) === 'PONG',
    );
    try {
      await fenced.pauseWrites(10_000);
      let written = false;
      const write = writer.set('fenced', '1').then(() => (written = true));
      expect(await reader.get('k')).toBe('v');
      await sleep(200);
      expect(written).toBe(false);
      await fenced.promote();
      await write;
      expect(await reader.get('fenced')).toBe('1');
    } finally {
      writer.disconnect();
      reader.disconnect();
    }
  });

  test('a store paused by a step-down applies its new master’s writes once it follows it', async () => {
    const steppedDown = store(two);
    const active = store(one);
    await waitFor(
      'both stores',
      async () => (await steppedDown.view()) !== undefined && (await active.view()) !== undefined,
    );
    await active.promote();
    const [writer, reader] = [createRedis({ url: one.url }), createRedis({ url: two.url })];
    await waitFor(
      'the clients',
      async () => (await writer.ping()) === 'PONG' && (await reader.ping()) === 'PONG',
    );
    try {
      await steppedDown.pauseWrites(10_000);
      await steppedDown.follow('127.0.0.1', one.port);
      await waitFor(
        'the replica in sync',
        async () => {
          const view = await steppedDown.view();
          return view?.role === 'replica' && view.linkUp && !view.syncing;
        },
        10_000,
      );
      await writer.set('written by the new active', '1');
      // A paused replica would hold its master's stream until the pause ends (10 s here).
      await waitFor(
        'the write copied',
        async () => (await reader.get('written by the new active')) === '1',
        2_000,
      );
    } finally {
      writer.disconnect();
      reader.disconnect();
    }
  });

  test('a store that does not answer has no view (one timeout, no pile-up)', async () => {
    const paused = store(two);
    await waitFor('the store', async () => (await paused.view()) !== undefined);
    two.pause();
    try {
      const started = Date.now();
      expect(await paused.view()).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      two.resume();
    }
    await sleep(10);
  });
});
