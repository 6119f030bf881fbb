// A media node's death repaired by the platform (issue 12, targets 2 and 3), inside the run's
// network namespace: pages in Debian's Chromium on the bundled SDK, two masters, two media agents
// each running real Janus. Janus SIGKILLed, the agent SIGKILLed, the whole node SIGSTOPped: every
// subscriber decodes frames again, from the other media node, with no one rejoining the session.
// Asserts invariants (no session lost, every subscriber recovers, no duplicate publisher, nothing
// left behind), never timings: the measured gaps are logged.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { Page } from 'puppeteer-core';
import { RtcHaAdmin } from '../../runtime/client';
import { RegistryReader, createRedis, untilReady } from '../../runtime/contract';
import { startNodeProcess, type NodeProcess } from '../../local/node-process';
import { startRedisServer, type RedisServer } from '../../local/redis-server';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';
import { serveSdkPage, type SdkPageServer } from '../support/sdk-page';
import { agentJanusAdmin } from './support/agent-janus';
import {
  allPlaying,
  decoding,
  events,
  liveVideo,
  peerCount,
  until,
  type PageEvent,
  type SdkPage,
} from './support/sdk-pages';

const API_SECRET = `test-api-${randomBytes(8).toString('hex')}`;
const CONTROL_SECRET = `test-control-${randomBytes(16).toString('hex')}`;

interface MediaLoad {
  rooms: number;
  publishers: number;
  subscribers: number;
  headroom: number;
}

jest.setTimeout(120_000);

describe('a media node dies: the platform moves its rooms and every subscriber decodes again', () => {
  const network = testNetwork();
  let redis: RedisServer;
  let agentTmp: string | undefined;
  const nodes: NodeProcess[] = [];
  let masters: NodeProcess[];
  const agents: NodeProcess[] = [];
  let admin: RtcHaAdmin;
  let registryRedis: Redis;
  let registry: RegistryReader;
  let browser: TestBrowser;
  let site: SdkPageServer | undefined;
  let nextPorts = 40_000;
  const gaps: Record<string, number[]> = {};

  async function startAgent(): Promise<NodeProcess> {
    const min = nextPorts;
    nextPorts += 1_000; // each Janus its own RTP range on the shared address
    const agent = await startNodeProcess({
      kind: 'media',
      env: {
        RTC_REDIS_URL: redis.url,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
        RTC_MEDIA_ICE_ADDRESS: network.iceAddress,
        RTC_MEDIA_PORT_MIN: String(min),
        RTC_MEDIA_PORT_MAX: String(min + 999),
        TMPDIR: agentTmp,
      },
      startTimeoutMs: 30_000,
    });
    nodes.push(agent);
    agents.push(agent);
    return agent;
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    masters = await Promise.all(
      [1, 2].map(() =>
        startNodeProcess({
          kind: 'master',
          env: {
            RTC_REDIS_URL: redis.url,
            RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
            RTC_API_SECRET: API_SECRET,
          },
        }),
      ),
    );
    nodes.push(...masters);
    // Janus runs as nobody, which cannot enter the run's private TMPDIR (see sdk-media.test.ts).
    agentTmp = await mkdtemp('/tmp/rtc-ha-agent-');
    await chmod(agentTmp, 0o711);
    // Three: after (a) the node whose Janus restarted stays out of placement for 30 s, and (b)
    // needs another node with room to move to.
    // One after the other: each agent's free control port must not be taken by another's Janus
    // (its API ports are free ports too) before the agent listens on it.
    for (let i = 0; i < 3; i++) await startAgent();
    admin = new RtcHaAdmin({ baseUrl: masters.map((m) => m.url), secret: API_SECRET });
    registryRedis = await untilReady(createRedis({ url: redis.url }));
    registry = new RegistryReader(registryRedis);

    site = await serveSdkPage(await readFile(join(__dirname, 'fixtures', 'sdk-media.html')));
    browser = await launchBrowser();
  });

  afterAll(async () => {
    console.log(`media recovery gaps (ms): ${JSON.stringify(gaps)}`);
    // RTC_RECOVERY_DEBUG=<file>: the nodes' media, control and Janus log events, merged by time.
    if (process.env.RTC_RECOVERY_DEBUG) {
      const wanted = /media_|control_|janus_(up|down|session)|drain|heartbeat/;
      const lines = nodes.flatMap((n) => n.events().filter((e) => wanted.test(e.event)));
      lines.sort((a, b) => a.time.localeCompare(b.time));
      await writeFile(process.env.RTC_RECOVERY_DEBUG, lines.map((l) => JSON.stringify(l)).join('\n'));
    }
    await browser?.close();
    await site?.close();
    registryRedis?.disconnect();
    for (const node of nodes) if (!node.hasExited()) node.kill('SIGCONT');
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    if (agentTmp) await rm(agentTmp, { recursive: true, force: true });
  });

  const wsUrl = (master: NodeProcess) => `${master.url.replace(/^http/, 'ws')}/ws`;
  async function participant(sessionId: string, participantId: string, via: NodeProcess): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error(`${participantId}: ${String(err)}`));
    await page.goto(site!.url);
    const { token } = await admin.createConnection(sessionId, participantId);
    await page.evaluate((url, t) => (window as unknown as SdkPage).join(url, t), wsUrl(via), token);
    return page;
  }

  const mediaNodeOf = async (sessionId: string) => (await admin.getSession(sessionId)).mediaNode?.nodeId;

  async function loadOf(nodeId: string): Promise<MediaLoad | undefined> {
    const node = (await registry.nodes('media')).find((n) => n.identity.nodeId === nodeId);
    return node?.live?.load.media;
  }

  const janusPid = (agent: NodeProcess): number => {
    const up = agent.events().filter((e) => e.event === 'janus_up');
    return up[up.length - 1]?.pid as number;
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  /**
   * A room of three: alice and bob publish, carol only watches; alice and carol on master 0, bob
   * on master 1. Returns once every subscriber decodes.
   */
  async function room(label: string) {
    const sessionId = `recovery-${label}-${randomBytes(3).toString('hex')}`;
    await admin.createSession(sessionId);
    const alice = await participant(sessionId, 'alice', masters[0]);
    const bob = await participant(sessionId, 'bob', masters[1]);
    const carol = await participant(sessionId, 'carol', masters[0]);
    for (const page of [alice, bob]) await page.evaluate(() => (window as unknown as SdkPage).publish());
    const expected: [Page, number][] = [
      [alice, 1],
      [bob, 1],
      [carol, 2],
    ];
    for (const [page, feeds] of expected) await decoding(page, feeds, `${label} before`);
    const mediaNode = await mediaNodeOf(sessionId);
    const hosting = agents.find((a) => a.nodeId === mediaNode) as NodeProcess;
    // Connections made after this are the new node's.
    const peersBefore = await Promise.all([alice, bob, carol].map(peerCount));
    return {
      sessionId,
      pages: [alice, bob, carol],
      expected,
      mediaNode: mediaNode as string,
      hosting,
      peersBefore,
    };
  }

  /** After the kill: every page recovers on another node, with the events, no rejoin, no duplicate. */
  async function recovered(
    label: string,
    r: Awaited<ReturnType<typeof room>>,
    killedAt: number,
    inPlace = false,
  ) {
    const sessionId = r.sessionId;
    // Frames again at every subscriber (polled every 50 ms, all pages at once), then still rising.
    await Promise.all(
      r.expected.map(([page, feeds], i) =>
        until(
          `${label}: frames again`,
          () => liveVideo(page, r.peersBefore[i]),
          (v) => v.connections === feeds && v.framesDecoded > 0,
        ),
      ),
    );
    const framesAgainMs = Date.now() - killedAt;
    for (const [i, [page, feeds]] of r.expected.entries())
      await decoding(page, feeds, `${label} after`, r.peersBefore[i]);
    const now = await mediaNodeOf(sessionId);
    expect(now).toBeDefined();
    if (inPlace) expect(now).toBe(r.mediaNode);
    else expect(now).not.toBe(r.mediaNode);
    for (const page of r.pages) {
      const seen = await until(
        `${label}: mediaRestored`,
        () => events(page),
        (list) => list.some((e) => e.name === 'mediaRestored'),
      );
      const names = seen.map((e) => e.name).filter((n) => n.startsWith('media') || n === 'resumed');
      expect(names).toEqual(['mediaReconnecting', 'mediaRestored']);
      expect(seen.filter((e) => e.name === 'trackUnpublished' || e.name === 'trackRemoved')).toEqual([]);
      const restored = seen.find((e) => e.name === 'mediaRestored') as PageEvent;
      expect(restored.mediaNodeId).toBe(now);
      (gaps[label] ??= []).push(restored.gapMs as number);
    }
    (gaps[`${label} (kill to frames at every subscriber, polled)`] ??= []).push(framesAgainMs);
    // The session and its participants are all still there: nobody rejoined.
    const session = await admin.getSession(sessionId);
    expect(session.participants.map((p) => p.participantId).sort()).toEqual(['alice', 'bob', 'carol']);
    // No duplicate publisher: the new node holds exactly the two feeds and four subscriptions.
    await until(
      `${label}: the new node's Janus holds 2 publishers, 4 subscribers`,
      () => loadOf(now as string),
      (l) => l !== undefined && l.rooms === 1 && l.publishers === 2 && l.subscribers === 4,
    );
    return now as string;
  }

  async function end(r: Awaited<ReturnType<typeof room>>): Promise<void> {
    await Promise.all(r.pages.map((p) => p.evaluate(() => (window as unknown as SdkPage).leave())));
    await Promise.all(r.pages.map((p) => p.close()));
  }

  it('(a) Janus SIGKILLed: the room moves to the other node; the restarted Janus holds nothing', async () => {
    const r = await room('janus-kill');
    const pid = janusPid(r.hosting);
    expect(pid).toBeGreaterThan(0);

    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    await recovered('janus-kill', r, killedAt);
    // The old node restarted its Janus, empty.
    await until(
      'the old node restarted Janus',
      async () => janusPid(r.hosting),
      (p) => p !== pid,
    );
    await until(
      'nothing left in the old node',
      () => loadOf(r.mediaNode),
      (l) => l !== undefined && l.rooms + l.publishers + l.subscribers === 0,
    );
    await end(r);
  });

  it('(b) media agent SIGKILLed: its Janus dies with it, the room moves', async () => {
    const r = await room('agent-kill');
    const pid = janusPid(r.hosting);

    const killedAt = Date.now();
    r.hosting.kill('SIGKILL');

    await recovered('agent-kill', r, killedAt);
    // setpriv --pdeathsig: the agent's Janus did not outlive it.
    await until(
      'the dead agent’s Janus gone',
      async () => alive(pid),
      (a) => !a,
      5_000,
    );
    await end(r);
    await startAgent(); // a node with room again for the next test
  });

  it('(c) the whole media node SIGSTOPped: the ping notices, the room moves; once resumed it holds nothing', async () => {
    const r = await room('node-stop');
    const pid = janusPid(r.hosting);

    const killedAt = Date.now();
    r.hosting.kill('SIGSTOP');
    process.kill(pid, 'SIGSTOP');

    await recovered('node-stop', r, killedAt);
    // Resumed, the old node finds its session moved away and drops its room without a word.
    process.kill(pid, 'SIGCONT');
    r.hosting.kill('SIGCONT');
    await until(
      'nothing left in the resumed node',
      () => loadOf(r.mediaNode),
      (l) => l !== undefined && l.rooms + l.publishers + l.subscribers === 0,
      20_000,
    );
    // and the room on the new node was not disturbed by it
    for (const [i, [page, feeds]] of r.expected.entries())
      await decoding(page, feeds, 'node-stop resumed', r.peersBefore[i]);
    for (const page of r.pages) {
      const list = await events(page);
      expect(list.filter((e) => e.name === 'trackUnpublished' || e.name === 'trackRemoved')).toEqual([]);
    }
    await end(r);
  });

  it('(e) the media node drains (SIGTERM): the room moves make-before-break, nobody reconnects, the node leaves empty', async () => {
    const r = await room('drain');

    r.hosting.kill('SIGTERM');

    // Every page switched every connection: mediaMoved, never mediaReconnecting, no feed lost.
    for (const page of r.pages) {
      const seen = await until(
        'drain: mediaMoved',
        () => events(page),
        (list) => list.some((e) => e.name === 'mediaMoved'),
      );
      const names = seen.map((e) => e.name).filter((n) => n.startsWith('media') || n === 'resumed');
      expect(names).toEqual(['mediaMoved']);
      expect(seen.filter((e) => e.name === 'trackUnpublished' || e.name === 'trackRemoved')).toEqual([]);
      (gaps['drain (mediaMoved tookMs)'] ??= []).push(
        seen.find((e) => e.name === 'mediaMoved')?.tookMs as number,
      );
    }
    const now = await mediaNodeOf(r.sessionId);
    expect(now).toBeDefined();
    expect(now).not.toBe(r.mediaNode);
    for (const [i, [page, feeds]] of r.expected.entries()) {
      await decoding(page, feeds, 'drain after', r.peersBefore[i]);
      await allPlaying(page, feeds, 'drain after');
    }
    // The drained node completed its drain empty (no room left behind) and exited.
    await until(
      'the drained agent exits',
      async () => r.hosting.hasExited(),
      (gone) => gone,
      30_000,
    );
    expect(r.hosting.events().find((e) => e.event === 'drain_done')?.outcome).toBe('empty');
    // No duplicate publisher, nobody rejoined.
    await until(
      'drain: the new node holds 2 publishers, 4 subscribers',
      () => loadOf(now as string),
      (l) => l !== undefined && l.rooms === 1 && l.publishers === 2 && l.subscribers === 4,
    );
    const session = await admin.getSession(r.sessionId);
    expect(session.participants.map((p) => p.participantId).sort()).toEqual(['alice', 'bob', 'carol']);
    await end(r);
    await startAgent(); // a node with room again for the next test
  });

  it('(f) a subscription Janus hung up behind the client: the client reports it, the node is healthy, the SDK renegotiates', async () => {
    const r = await room('stall');
    const janus = await agentJanusAdmin(janusPid(r.hosting));
    let hungUp = false;
    try {
      for (const session of await janus.listSessions()) {
        for (const handle of await janus.listHandles(session)) {
          const info = await janus.handleInfo(session, handle);
          if (hungUp || info.plugin_specific?.type !== 'subscriber') continue;
          await janus.hangUp(session, handle);
          hungUp = true;
        }
      }
    } finally {
      janus.close();
    }
    expect(hungUp).toBe(true);

    // Nobody told the client: its own watch notices, the master checks the node and answers renegotiate.
    const logged = (event: string) => masters.flatMap((m) => m.events()).filter((e) => e.event === event);
    const renegotiated = await until(
      'stall: a master answered renegotiate',
      async () => logged('media_renegotiate'),
      (list) => list.length > 0,
    );
    expect(logged('media_stalled_report').length).toBeGreaterThan(0);
    expect(renegotiated[0].exists).toBe(false);
    for (const [page, feeds] of r.expected) await allPlaying(page, feeds, 'stall after');
    // Not a move: the node was healthy. The old subscription is gone, none left behind.
    expect(await mediaNodeOf(r.sessionId)).toBe(r.mediaNode);
    for (const page of r.pages) {
      const names = (await events(page)).map((e) => e.name).filter((n) => n.startsWith('media'));
      expect(names).toEqual([]);
    }
    await until(
      'stall: the node holds 2 publishers, 4 subscribers',
      () => loadOf(r.mediaNode),
      (l) => l !== undefined && l.rooms === 1 && l.publishers === 2 && l.subscribers === 4,
    );
    await end(r);
  });

  // Last: it leaves a single media node.
  it('(d) Janus SIGKILLed with no other node with room: the room is rebuilt in place once Janus is back', async () => {
    // GIVEN a single live media node
    const survivor = agents.filter((a) => !a.hasExited()).pop() as NodeProcess;
    for (const agent of agents) if (agent !== survivor && !agent.hasExited()) agent.kill('SIGKILL');
    await until(
      'one live media node left',
      async () => (await registry.nodes('media')).filter((n) => !n.expired).length,
      (n) => n === 1,
    );
    await until(
      'the survivor out of its quarantine',
      async () => (await loadOf(survivor.nodeId))?.headroom ?? 0,
      (h) => h > 0,
      40_000,
    );
    const r = await room('in-place');
    expect(r.mediaNode).toBe(survivor.nodeId);
    const pid = janusPid(r.hosting);

    // WHEN its Janus dies
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    // THEN once it restarted, the room is rebuilt there: every subscriber decodes, no duplicate
    await recovered('in-place', r, killedAt, true);
    expect(janusPid(r.hosting)).not.toBe(pid);
    await end(r);
  });
});
