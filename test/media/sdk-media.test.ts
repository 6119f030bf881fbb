// The SDK's media path end to end, all inside the run's network namespace: pages in Debian's
// Chromium use the bundled runtime/client (no SDP in the page), two masters broker their media
// requests to a media agent running real Janus, and the media flows between the pages through it.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { Page } from 'puppeteer-core';
import { RtcHaAdmin } from '../../runtime/client';
import { RegistryReader, createRedis, untilReady } from '../../runtime/contract';
import { startNodeProcess, type NodeProcess } from '../../local/node-process';
import { waitFor } from '../../local/ports';
import { startRedisServer, type RedisServer } from '../../local/redis-server';
import { iceRoutes, launchBrowser, waitForMedia, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';
import { serveSdkPage, type SdkPageServer } from '../support/sdk-page';

const API_SECRET = `test-api-${randomBytes(8).toString('hex')}`;
const CONTROL_SECRET = `test-control-${randomBytes(16).toString('hex')}`;

/** What the fixture page records of its session's media events. */
interface PageEvent {
  name: 'trackPublished' | 'trackUnpublished' | 'trackAdded' | 'trackRemoved' | 'mediaError' | 'resumed';
  participantId?: string;
  feedId?: string;
  code?: string;
  message?: string;
  tracks?: string[];
}
interface SdkPage {
  join(url: string | string[], token: string): Promise<void>;
  publish(): Promise<string>;
  unpublish(): void;
  leave(): Promise<void>;
  events(): PageEvent[];
}

describe('the SDK publishes and subscribes through the masters and a Janus media node', () => {
  const network = testNetwork();
  let redis: RedisServer;
  let agentTmp: string | undefined;
  const nodes: NodeProcess[] = [];
  let masters: NodeProcess[];
  let admin: RtcHaAdmin;
  let registryRedis: Redis;
  let registry: RegistryReader;
  let browser: TestBrowser;
  let site: SdkPageServer | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    const common = { RTC_REDIS_URL: redis.url, RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET };
    masters = await Promise.all(
      [1, 2].map(() => startNodeProcess({ kind: 'master', env: { ...common, RTC_API_SECRET: API_SECRET } })),
    );
    nodes.push(...masters);
    // Janus runs as nobody (the agent runs as root here), and nobody cannot enter the run's private
    // TMPDIR (scripts/netns-run.sh makes it 0700): its configuration goes into a folder it can reach.
    agentTmp = await mkdtemp('/tmp/rtc-ha-agent-');
    await chmod(agentTmp, 0o711);
    nodes.push(
      await startNodeProcess({
        kind: 'media',
        env: { ...common, RTC_MEDIA_ICE_ADDRESS: network.iceAddress, TMPDIR: agentTmp },
        startTimeoutMs: 30_000,
      }),
    );
    admin = new RtcHaAdmin({ baseUrl: masters.map((m) => m.url), secret: API_SECRET });
    registryRedis = await untilReady(createRedis({ url: redis.url }));
    registry = new RegistryReader(registryRedis);

    site = await serveSdkPage(await readFile(join(__dirname, 'fixtures', 'sdk-media.html')));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    registryRedis?.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    if (agentTmp) await rm(agentTmp, { recursive: true, force: true });
  });

  const wsUrl = (master: NodeProcess) => `${master.url.replace(/^http/, 'ws')}/ws`;

  /** A page joined to `sessionId` as `participantId` through `via` (a master, or masters in order). */
  async function participant(
    sessionId: string,
    participantId: string,
    via: NodeProcess | NodeProcess[],
  ): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error(`${participantId}: ${String(err)}`));
    await page.goto(site!.url);
    const { token } = await admin.createConnection(sessionId, participantId);
    const urls = Array.isArray(via) ? via.map(wsUrl) : wsUrl(via);
    await page.evaluate((url, t) => (window as unknown as SdkPage).join(url, t), urls, token);
    return page;
  }

  const events = (page: Page) => page.evaluate(() => (window as unknown as SdkPage).events());

  async function until(
    page: Page,
    what: string,
    check: (events: PageEvent[]) => boolean,
  ): Promise<PageEvent[]> {
    let last: PageEvent[] = [];
    try {
      await waitFor(
        what,
        async () => {
          last = await events(page);
          return check(last);
        },
        20_000,
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; events ${JSON.stringify(last)}`);
    }
    return last;
  }
  const count = (list: PageEvent[], name: PageEvent['name'], feedId: string) =>
    list.filter((e) => e.name === name && e.feedId === feedId).length;

  /**
   * What the media agent's Janus carries, as its admin API counts it (the agent publishes the
   * figures with each heartbeat), once `check` holds.
   */
  async function janusLoad(
    what: string,
    check: (load: { rooms: number; publishers: number; subscribers: number }) => boolean,
  ) {
    let last: unknown;
    try {
      await waitFor(
        what,
        async () => {
          const [agent] = await registry.nodes('media');
          const load = agent?.live?.load.media;
          last = load;
          return load !== undefined && check(load);
        },
        10_000,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last load ${JSON.stringify(last)}`);
    }
  }

  const leave = (page: Page) => page.evaluate(() => (window as unknown as SdkPage).leave());

  async function newSession(): Promise<string> {
    const sessionId = `sdk-media-${randomBytes(4).toString('hex')}`;
    await admin.createSession(sessionId);
    return sessionId;
  }

  it('two pages receive what a third publishes, one of them through another master', async () => {
    // GIVEN bob on the publisher's master, already in the room when alice publishes
    const sessionId = await newSession();
    const alice = await participant(sessionId, 'alice', masters[0]);
    const bob = await participant(sessionId, 'bob', masters[0]);

    // WHEN alice publishes her camera and microphone, and carol joins afterwards on the other master
    const feedId = await alice.evaluate(() => (window as unknown as SdkPage).publish());
    const carol = await participant(sessionId, 'carol', masters[1]);

    // THEN both subscribe by themselves (bob on trackPublished, carol from her joined frame's feeds)
    for (const page of [bob, carol]) {
      const seen = await until(page, `alice's feed added`, (list) => count(list, 'trackAdded', feedId) === 1);
      expect(seen.find((e) => e.name === 'trackAdded')).toEqual({
        name: 'trackAdded',
        participantId: 'alice',
        feedId,
        tracks: ['audio', 'video'],
      });
      expect(seen.filter((e) => e.name === 'mediaError')).toEqual([]);
    }
    // and the video decodes and the sound arrives on both
    for (const page of [bob, carol]) {
      const first = await waitForMedia(page, 'a first decoded frame', (s) => s.framesDecoded > 0);
      await waitForMedia(
        page,
        'frames to keep coming and sound to arrive',
        (s) =>
          s.framesDecoded >= first.framesDecoded + 30 &&
          s.audioPacketsReceived > 50 &&
          s.totalAudioEnergy > 0,
      );
    }
    expect(await events(alice)).toEqual([]); // her own feed is not announced to her
    // Every page's media goes to the media node's Janus, none from page to page.
    for (const page of [alice, bob, carol]) {
      const remotes = (await iceRoutes(page)).map((route) => route.split(' -> ')[1]);
      expect(remotes).toEqual([network.iceAddress]);
    }
    await janusLoad(
      'one publisher, two subscribers in Janus',
      (l) => l.publishers === 1 && l.subscribers === 2,
    );

    // AND when all leave, Janus is left with nothing
    await Promise.all([alice, bob, carol].map(leave));
    await janusLoad(
      'no room, publisher or subscriber left',
      (l) => l.rooms + l.publishers + l.subscribers === 0,
    );
  });

  it('unpublish and leave tear the subscriptions down (trackRemoved), and publishing again brings them back', async () => {
    // GIVEN alice publishing to bob (same master) and carol (the other one)
    const sessionId = await newSession();
    const alice = await participant(sessionId, 'alice', masters[0]);
    const bob = await participant(sessionId, 'bob', masters[0]);
    const carol = await participant(sessionId, 'carol', masters[1]);
    const feedId = await alice.evaluate(() => (window as unknown as SdkPage).publish());
    for (const page of [bob, carol])
      await until(page, 'the feed added', (l) => count(l, 'trackAdded', feedId) === 1);

    // WHEN she unpublishes
    await alice.evaluate(() => (window as unknown as SdkPage).unpublish());

    // THEN the feed goes on both, then comes back when she publishes again
    for (const page of [bob, carol]) {
      await until(page, 'the feed removed', (l) => count(l, 'trackRemoved', feedId) === 1);
    }
    await alice.evaluate(() => (window as unknown as SdkPage).publish());
    for (const page of [bob, carol])
      await until(page, 'the feed again', (l) => count(l, 'trackAdded', feedId) === 2);

    // WHEN she leaves
    await leave(alice);

    // THEN it goes again, for good
    for (const page of [bob, carol]) {
      const seen = await until(page, 'the feed removed again', (l) => count(l, 'trackRemoved', feedId) === 2);
      expect(seen.map((e) => e.name)).toEqual([
        'trackPublished',
        'trackAdded',
        'trackUnpublished',
        'trackRemoved',
        'trackPublished',
        'trackAdded',
        'trackUnpublished',
        'trackRemoved',
      ]);
      // Every video element the page made for the feed went with it.
      expect(await page.$$('video')).toHaveLength(0);
    }
    // and Janus holds nothing for the session although bob and carol are still in it
    await janusLoad(
      'no room, publisher or subscriber left',
      (l) => l.rooms + l.publishers + l.subscribers === 0,
    );
    await Promise.all([bob, carol].map(leave));
  });

  // Last: it kills a master.
  it('a master crash resumes the signaling and leaves the media alone', async () => {
    // GIVEN bob receiving alice's feed through master 1, with master 2 as his next URL
    const sessionId = await newSession();
    const alice = await participant(sessionId, 'alice', masters[1]);
    const bob = await participant(sessionId, 'bob', [masters[0], masters[1]]);
    const feedId = await alice.evaluate(() => (window as unknown as SdkPage).publish());
    await until(bob, 'the feed added', (l) => count(l, 'trackAdded', feedId) === 1);
    const before = await waitForMedia(bob, 'frames decoded', (s) => s.framesDecoded > 0);

    // WHEN his master dies
    masters[0].kill('SIGKILL');

    // THEN he resumes on the other one, and the frames go on without a renegotiation
    const seen = await until(bob, 'resumed', (l) => l.some((e) => e.name === 'resumed'));
    await waitForMedia(bob, 'frames after the resume', (s) => s.framesDecoded >= before.framesDecoded + 30);
    expect(seen.map((e) => e.name)).toEqual(['trackPublished', 'trackAdded', 'resumed']);
    expect(await events(bob)).toEqual(seen);
    await Promise.all([alice, bob].map(leave));
  });
});
