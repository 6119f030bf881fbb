// TURN end to end (issue 12, "Reachability"), inside the run's network namespace: the masters hand
// every participant credentials for the media node's coturn (which its agent runs), and pages in
// Debian's Chromium that allow only relayed candidates (iceTransportPolicy 'relay') publish and
// receive video through it. A master SIGKILLed meanwhile costs no frame, as on the direct path, and
// nothing is left behind in coturn or Janus once everyone left.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { RtcHaAdmin } from '../../runtime/client';
import { DEFAULT_TURN_PORT, TURN_RELAY_PORT_RANGE } from '../../runtime/contract';
import { startNodeProcess, type NodeProcess } from '../../local/node-process';
import { startRedisServer, type RedisServer } from '../../local/redis-server';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';
import { serveSdkPage, type SdkPageServer } from '../support/sdk-page';
import { agentJanusAdmin } from './support/agent-janus';
import { allPlaying, events, playing, until, type Recorded, type SdkPage } from './support/sdk-pages';

const API_SECRET = `test-api-${randomBytes(8).toString('hex')}`;
const CONTROL_SECRET = `test-control-${randomBytes(16).toString('hex')}`;
const TURN_SECRET = `test-turn-${randomBytes(16).toString('hex')}`;
const SESSION = 'relay-only';

jest.setTimeout(120_000);

/** The candidate types of each connected connection's selected pair on the page: [local, remote]. */
function selectedPairs(page: Page): Promise<[string, string][]> {
  return page.evaluate(async () => {
    const pairs: [string, string][] = [];
    for (const peer of (window as unknown as Recorded).__rtcTestPeers) {
      if (peer.connectionState !== 'connected') continue;
      const stats = new Map<string, Record<string, unknown>>();
      (await peer.getStats()).forEach((s: Record<string, unknown>) => stats.set(s.id as string, s));
      for (const s of stats.values()) {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
        const pair = stats.get(s.selectedCandidatePairId as string);
        const local = stats.get(pair?.localCandidateId as string);
        const remote = stats.get(pair?.remoteCandidateId as string);
        pairs.push([String(local?.candidateType), String(remote?.candidateType)]);
      }
    }
    return pairs;
  });
}

/** UDP ports in coturn's relay range that a turnserver process holds in this namespace now. */
function relayPortsHeld(): number[] {
  return execFileSync('ss', ['-H', '-uanp'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('"turnserver"'))
    .map((line) => {
      const local = line.trim().split(/\s+/)[3] ?? '';
      return Number(local.slice(local.lastIndexOf(':') + 1));
    })
    .filter((port) => port >= TURN_RELAY_PORT_RANGE.min && port <= TURN_RELAY_PORT_RANGE.max);
}

describe("relay only: media through the media node's TURN server, and a master crash costs no frame", () => {
  const network = testNetwork();
  let redis: RedisServer;
  let agentTmp: string | undefined;
  let masters: NodeProcess[] = [];
  let agent: NodeProcess;
  let admin: RtcHaAdmin;
  let browser: TestBrowser;
  let site: SdkPageServer | undefined;
  let alice: Page;
  let bob: Page;

  const wsUrl = (master: NodeProcess) => `${master.url.replace(/^http/, 'ws')}/ws`;

  beforeAll(async () => {
    redis = await startRedisServer();
    const turn = { RTC_TURN_SECRET: TURN_SECRET };
    masters = await Promise.all(
      [1, 2].map(() =>
        startNodeProcess({
          kind: 'master',
          env: {
            ...turn,
            RTC_REDIS_URL: redis.url,
            RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
            RTC_API_SECRET: API_SECRET,
          },
        }),
      ),
    );
    // Janus and coturn run as nobody, which must get through their folders' parent.
    agentTmp = await mkdtemp('/tmp/rtc-ha-agent-');
    await chmod(agentTmp, 0o711);
    agent = await startNodeProcess({
      kind: 'media',
      env: {
        ...turn,
        RTC_REDIS_URL: redis.url,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
        RTC_MEDIA_ICE_ADDRESS: network.iceAddress,
        // Where clients reach the node (its TURN server too): on AWS its public IPv4.
        RTC_PUBLIC_ADDRESS: network.iceAddress,
        RTC_MEDIA_PORT_MIN: '42000',
        RTC_MEDIA_PORT_MAX: '42999',
        TMPDIR: agentTmp,
      },
      startTimeoutMs: 30_000,
    });
    admin = new RtcHaAdmin({ baseUrl: masters.map((m) => m.url), secret: API_SECRET });
    site = await serveSdkPage(await readFile(join(__dirname, 'fixtures', 'sdk-media.html')));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    // Nothing placed on the agent any more: its drain ends at once and stops its coturn (a SIGKILLed
    // agent would leave it behind here: coturn's switch to nobody clears its parent-death signal;
    // on a node, systemd stops whatever is left in the unit's cgroup).
    await admin?.deleteSession(SESSION).catch(() => undefined);
    await Promise.all([...masters, agent].filter(Boolean).map((node) => node.stop(10_000)));
    await redis?.stop();
    if (agentTmp) await rm(agentTmp, { recursive: true, force: true });
  });

  async function participant(participantId: string, via: NodeProcess[]): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error(`${participantId}: ${String(err)}`));
    await page.goto(site!.url);
    const { token } = await admin.createConnection(SESSION, participantId);
    await page.evaluate(
      (urls, t) => (window as unknown as SdkPage).join(urls, t, { iceTransportPolicy: 'relay' }),
      via.map(wsUrl),
      token,
    );
    return page;
  }

  it('a relay-only publisher and viewer exchange video through coturn on the media node', async () => {
    await admin.createSession(SESSION);
    alice = await participant('alice', [masters[0], masters[1]]);
    bob = await participant('bob', [masters[1], masters[0]]);
    await alice.evaluate(() => (window as unknown as SdkPage).publish());

    await allPlaying(bob, 1, 'relay');
    // Both ends of the media went through the relay: the browsers' selected pairs are relayed.
    for (const page of [alice, bob]) {
      const pairs = await until(
        'a connected connection',
        () => selectedPairs(page),
        (p) => p.length === 1,
      );
      expect(pairs[0][0]).toBe('relay');
    }
    expect(relayPortsHeld().length).toBeGreaterThanOrEqual(2); // one allocation per page at least
    // The credentials came with the join, for this node's TURN on its port.
    const turnUp = agent.events().find((e) => e.event === 'turn_up');
    expect(turnUp).toMatchObject({ address: network.iceAddress, port: DEFAULT_TURN_PORT });
  });

  it("the viewer's master SIGKILLed: the SDK resumes on the other, the relayed video never stops", async () => {
    const framesBefore = await playing(bob);
    const samples: number[] = [];
    const sampling = setInterval(
      () => void playing(bob).then((p) => samples.push(Date.now(), p['feed-alice'] ?? 0)),
      50,
    );
    masters[1].kill('SIGKILL');
    await until(
      'bob resumed',
      () => events(bob),
      (list) => list.some((e) => e.name === 'resumed'),
    );
    await allPlaying(bob, 1, 'relay after the master crash');
    clearInterval(sampling);
    // Masters hold no media: no move, no media event, the same connections.
    const names = (await events(bob)).map((e) => e.name).filter((n) => n.startsWith('media'));
    expect(names).toEqual([]);
    expect((await playing(bob))['feed-alice']).toBeGreaterThan(framesBefore['feed-alice'] ?? 0);
    let longest = 0;
    for (let i = 2; i < samples.length; i += 2) {
      if (samples[i + 1] > samples[i - 1]) longest = Math.max(longest, samples[i] - samples[i - 2]);
    }
    console.log(
      `relay path: longest interval between frame-count rises around the master kill ${longest} ms`,
    );
  });

  it('once everyone left, coturn holds no relay and Janus no room', async () => {
    for (const page of [alice, bob]) await page.evaluate(() => (window as unknown as SdkPage).leave());
    // And the pages closed: the browser frees its allocations with its connections (Refresh 0).
    for (const page of [alice, bob]) await page.close();
    await until(
      'no relay port held',
      async () => relayPortsHeld(),
      (ports) => ports.length === 0,
      30_000,
    );
    const janusUp = agent.events().filter((e) => e.event === 'janus_up');
    const janus = await agentJanusAdmin(janusUp[janusUp.length - 1]?.pid as number);
    try {
      await until(
        'no room left in Janus',
        () => janus.listRooms(),
        (rooms) => rooms.length === 0,
      );
    } finally {
      janus.close();
    }
  });

  it("the agent's drain stops its coturn: no TURN port left listening", async () => {
    await admin.deleteSession(SESSION); // nothing placed on it: the drain ends at once
    await agent.stop(10_000);
    expect(execFileSync('ss', ['-H', '-tulnp'], { encoding: 'utf8' })).not.toContain('"turnserver"');
  });
});
