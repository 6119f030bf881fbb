// The sweeper sleeps while its master may not serve: a standby of the active-standby pair runs on a
// read-only Redis replica, where every round would fail (sweep_failed each second).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryReader, SessionStore } from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import { Departures } from '../../../runtime/master/departures';
import type { MasterHandle } from '../../../runtime/master/master';
import { Sweeper } from '../../../runtime/master/sweeper';
import { silentLogger } from '../../../runtime/node/log';
import { grantLease, writeLease } from '../../../runtime/standby/lease';
import { TestRegistry, startRegistry, startTestMaster } from './support/harness';

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(() => registry?.stop());

/** A session nobody was in for long past its timeout: the next sweep of it deletes it. */
async function expiredSession(store: SessionStore, sessionId: string): Promise<void> {
  await store.indexSession(sessionId);
  await store.createSession(sessionId, undefined, null);
  await registry.redis.hset(store.keys.session(sessionId), 'emptySince', 1);
}

test('a sweeper whose predicate is false skips its rounds, and sweeps once it turns true', async () => {
  // GIVEN an expired session, and a sweeper that is not active
  const store = new SessionStore(registry.redis, { prefix: 'idle', sessionSweepEveryMs: 0 });
  await expiredSession(store, 'room');
  let active = false;
  let asked = 0;
  const sweeper = new Sweeper(
    registry.redis,
    store,
    new RegistryReader(registry.redis, 'idle'),
    new Departures(store, 30_000, silentLogger),
    'master-a',
    {
      intervalMs: 20,
      maxSessions: 100,
      active: () => {
        asked++;
        return active;
      },
    },
    silentLogger,
  );
  sweeper.start();
  try {
    // WHEN several rounds come  THEN each is skipped: the session stays, the lock is never taken
    await waitFor('five rounds', () => asked >= 5, 5_000, 5);
    expect(await store.getSession('room')).toBeDefined();
    expect(await registry.redis.exists(store.keys.sweeperLock())).toBe(0);

    // WHEN it turns active  THEN a round deletes the session
    active = true;
    await waitFor('the session swept', async () => (await store.getSession('room')) === undefined, 5_000);
  } finally {
    await sweeper.stop();
  }
});

describe('a master with a serve lease file (the active-standby pair)', () => {
  let dir: string;
  let master: MasterHandle | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sweeper-lease-'));
  });
  afterAll(async () => {
    await master?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sweeps nothing before it holds a lease, and sweeps once it does', async () => {
    // GIVEN an expired session, and a master started without a lease (a standby)
    const store = new SessionStore(registry.redis, { prefix: 'rtc', sessionSweepEveryMs: 0 });
    await expiredSession(store, 'standby-room');
    const leaseFile = join(dir, 'serve-lease.json');
    master = await startTestMaster(
      registry.server.url,
      { serveLeaseFile: leaseFile, sweepIntervalMs: 20 },
      false,
    );

    // WHEN its heartbeat works and many sweep intervals pass  THEN the session stays
    await waitFor(
      'registered',
      async () => (await new RegistryReader(registry.redis, 'rtc').nodes()).length > 0,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(master.readiness()).toEqual([expect.stringMatching(/^standby: no serve lease/)]);
    expect(await store.getSession('standby-room')).toBeDefined();

    // WHEN its agent grants it the lease  THEN it serves, and sweeps the session
    writeLease(leaseFile, grantLease(Date.now()));
    await waitFor('ready under the lease', () => master!.readiness().length === 0, 5_000);
    await waitFor(
      'the session swept',
      async () => (await store.getSession('standby-room')) === undefined,
      5_000,
    );
  });
});
