// rtc-ha's media path end to end with real parts inside the run's network namespace: redis-server,
// a master process, a media agent process running Janus, and Chromium pages speaking the client <->
// master media frames of docs/contract.md ("Media") over the master's WebSocket. The page-side
// client below is the least that drives the protocol; the SDK replaces it later.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'puppeteer-core';
import { waitFor } from '../../local/ports';
import { type NodeProcess, startNodeProcess } from '../../local/node-process';
import { API_SECRET, Api, TestRegistry, startRegistry } from '../runtime/master/support/harness';
import { agentJanusAdmin } from './support/agent-janus';
import { launchBrowser, mediaStats, waitForMedia, type TestBrowser } from '../support/browser';
import { testNetwork } from '../support/netns';

const CONTROL_SECRET = 'media-control-secret-of-the-test';
const SESSION = 'media-path';
const TIMINGS = { RTC_HEARTBEAT_INTERVAL_MS: '250', RTC_HEARTBEAT_TTL_MS: '1000' };

/** What the page-side client offers the test (installed by `installClient`). */
interface PageClient {
  connect(url: string, token: string): Promise<{ feeds: { feedId: string }[] }>;
  resume(url: string): Promise<void>;
  publish(): Promise<string>;
  subscribe(feedId: string): Promise<string>;
  unpublish(): void;
  unsubscribe(subscriptionId: string): void;
  leave(): void;
  next(type: string, field?: string, value?: string): Promise<Record<string, unknown>>;
}

/** Runs in the page: a WebSocket to the master speaking the media frames, and the PeerConnections. */
function installClient(): void {
  type Frame = Record<string, unknown> & { type: string; seq?: number };
  const frames: Frame[] = [];
  const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  let ws: WebSocket;
  let resumeToken = '';
  let lastSeq = 0;
  let requests = 0;
  let publisher: RTCPeerConnection | undefined;
  const subscribers = new Map<string, RTCPeerConnection>();
  const send = (frame: object) => ws.send(JSON.stringify(frame));
  const receive = (frame: Frame) => {
    if (frame.seq !== undefined) {
      lastSeq = frame.seq;
      send({ type: 'ack', seq: frame.seq });
    }
    if (frame.type === 'joined' || frame.type === 'resumed') resumeToken = frame.resumeToken as string;
    const waiter = waiters.findIndex((w) => w.match(frame));
    if (waiter >= 0) waiters.splice(waiter, 1)[0].resolve(frame);
    else frames.push(frame);
  };
  const nextWhere = (match: (f: Frame) => boolean): Promise<Frame> => {
    const queued = frames.findIndex(match);
    if (queued >= 0) return Promise.resolve(frames.splice(queued, 1)[0]);
    return new Promise((resolve) => waiters.push({ match, resolve }));
  };
  /** The next frame of `type` (or an error naming a request) whose `field` is `value`. */
  const next = (type: string, field?: string, value?: string): Promise<Frame> =>
    nextWhere(
      (f) =>
        (f.type === type || (f.type === 'error' && f.requestId !== undefined)) &&
        (field === undefined || f[field] === value),
    );
  const open = async (url: string, first: object): Promise<Frame> => {
    ws = new WebSocket(url);
    ws.onmessage = (event) => receive(JSON.parse(event.data as string) as Frame);
    await new Promise((resolve) => (ws.onopen = resolve));
    setInterval(() => ws.readyState === WebSocket.OPEN && send({ type: 'ping' }), 2_000);
    send(first);
    const reply = await nextWhere((f) => ['joined', 'resumed', 'error'].includes(f.type));
    if (reply.type === 'error') throw new Error(JSON.stringify(reply));
    return reply;
  };
  const answered = async (type: string, requestId: string): Promise<Frame> => {
    const frame = await next(type, 'requestId', requestId);
    if (frame.type === 'error') throw new Error(JSON.stringify(frame));
    return frame;
  };
  /** Candidates go out as `trickle` once the request that creates `target` is on its way. */
  const trickle = (pc: RTCPeerConnection, target: () => string | undefined) => {
    const early: (RTCIceCandidateInit | null)[] = [];
    pc.onicecandidate = ({ candidate }) => {
      const init = candidate ? candidate.toJSON() : null;
      if (target()) send({ type: 'trickle', target: target(), candidate: init });
      else early.push(init);
    };
    return () =>
      early.splice(0).forEach((candidate) => send({ type: 'trickle', target: target(), candidate }));
  };

  const client: PageClient = {
    connect: async (url, token) => (await open(url, { type: 'join', token })) as never,
    resume: async (url) => void (await open(url, { type: 'resume', resumeToken, lastSeq })),
    async publish() {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const pc = new RTCPeerConnection();
      publisher = pc;
      stream.getTracks().forEach((track) => pc.addTrack(track, stream));
      let sent = false;
      const flush = trickle(pc, () => (sent ? 'publisher' : undefined));
      await pc.setLocalDescription(await pc.createOffer());
      const requestId = `p${++requests}`;
      send({ type: 'publish', requestId, sdp: pc.localDescription!.sdp });
      sent = true;
      flush();
      const answer = await answered('publishAnswer', requestId);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp as string });
      return answer.feedId as string;
    },
    async subscribe(feedId) {
      const requestId = `s${++requests}`;
      send({ type: 'subscribe', requestId, feedId });
      const offer = await answered('subscribeOffer', requestId);
      const subscriptionId = offer.subscriptionId as string;
      const pc = new RTCPeerConnection();
      subscribers.set(subscriptionId, pc);
      const remote = new MediaStream();
      (document.getElementById('remote') as HTMLVideoElement).srcObject = remote;
      pc.ontrack = ({ track }) => remote.addTrack(track);
      trickle(pc, () => subscriptionId);
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp as string });
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: 'subscribeAnswer', subscriptionId, sdp: pc.localDescription!.sdp });
      const subscribed = await next('subscribed', 'subscriptionId', subscriptionId);
      return subscribed.subscriptionId as string;
    },
    unpublish() {
      send({ type: 'unpublish' });
      publisher?.close();
    },
    unsubscribe(subscriptionId) {
      send({ type: 'unsubscribe', subscriptionId });
      subscribers.get(subscriptionId)?.close();
    },
    leave: () => send({ type: 'leave' }),
    next,
  };
  (window as unknown as { rtc: PageClient }).rtc = client;
}

const rtc = (page: Page) => ({
  call: <K extends keyof PageClient>(method: K, ...args: Parameters<PageClient[K]>) =>
    page.evaluate(
      (m, a) => (window as unknown as { rtc: Record<string, (...x: unknown[]) => unknown> }).rtc[m](...a),
      method,
      args as unknown[],
    ) as Promise<Awaited<ReturnType<PageClient[K]>>>,
});

describe('media path: publish and subscribe through a master and a media agent running Janus', () => {
  const network = testNetwork();
  let registry: TestRegistry;
  let agentTmp: string;
  let agent: NodeProcess;
  let master: NodeProcess;
  let browser: TestBrowser;
  let server: Server;
  let pageUrl: string;

  const startMaster = () =>
    startNodeProcess({
      kind: 'master',
      env: {
        ...TIMINGS,
        RTC_REDIS_URL: registry.server.url,
        RTC_API_SECRET: API_SECRET,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
      },
    });

  beforeAll(async () => {
    registry = await startRegistry();
    // Janus runs as nobody (the agent runs as root here): its folder's parent must let it through.
    agentTmp = await mkdtemp('/tmp/rtc-ha-agent-');
    await chmod(agentTmp, 0o711);
    agent = await startNodeProcess({
      kind: 'media',
      env: {
        ...TIMINGS,
        RTC_REDIS_URL: registry.server.url,
        RTC_MEDIA_ICE_ADDRESS: network.iceAddress,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
        RTC_MEDIA_PORT_MIN: '41000',
        RTC_MEDIA_PORT_MAX: '41099',
        TMPDIR: agentTmp,
      },
    });
    master = await startMaster();
    // Served from 127.0.0.1: a secure context, so getUserMedia is allowed over plain HTTP.
    server = createServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><video id="remote" autoplay playsinline></video>'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await master?.stop();
    await agent?.stop();
    await registry?.stop();
    if (agentTmp) await rm(agentTmp, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await page.evaluate(installClient);
    return page;
  }

  it('carries media from a publisher to a subscriber, survives the master, and leaves nothing in Janus', async () => {
    const api = new Api(master.url);
    await api.createSession(SESSION);
    const [alice, bob] = [await open(), await open()];
    const ws = (m: NodeProcess) => `ws://127.0.0.1:${m.port}/ws`;
    await rtc(alice).call('connect', ws(master), await api.token(SESSION, 'alice'));
    await rtc(bob).call('connect', ws(master), await api.token(SESSION, 'bob'));

    // Publish: the answer comes at once, the room hears of the feed once its media is up.
    expect(await rtc(alice).call('publish')).toBe('alice');
    expect(await rtc(bob).call('next', 'trackPublished')).toMatchObject({
      participantId: 'alice',
      feedId: 'alice',
      kinds: ['audio', 'video'],
    });
    const subscriptionId = await rtc(bob).call('subscribe', 'alice');
    const first = await waitForMedia(bob, 'a first decoded frame', (s) => s.framesDecoded > 0);
    await waitForMedia(
      bob,
      'video and sound to keep coming',
      (s) =>
        s.framesDecoded >= first.framesDecoded + 30 && s.audioPacketsReceived > 50 && s.totalAudioEnergy > 0,
    );

    // A late joiner learns the feeds from its joined frame.
    const carol = await open();
    const joined = await rtc(carol).call('connect', ws(master), await api.token(SESSION, 'carol'));
    expect(joined.feeds).toEqual([{ participantId: 'alice', feedId: 'alice', kinds: ['audio', 'video'] }]);
    await rtc(carol).call('leave');

    // A master crash costs no frame: media does not pass through masters.
    master.kill('SIGKILL');
    await master.exited;
    const atCrash = await mediaStats(bob);
    await waitForMedia(
      bob,
      'frames after the master died',
      (s) => s.framesDecoded >= atCrash.framesDecoded + 50,
    );

    // Another master takes over the same participants: the agent's state is keyed by them, not by
    // the connection that created it.
    master = await startMaster();
    await rtc(alice).call('resume', ws(master));
    await rtc(bob).call('resume', ws(master));
    await rtc(bob).call('unsubscribe', subscriptionId);
    await rtc(alice).call('unpublish');
    expect(await rtc(bob).call('next', 'trackUnpublished')).toMatchObject({
      participantId: 'alice',
      feedId: 'alice',
    });
    for (const page of [alice, bob]) await rtc(page).call('leave');

    // Nothing left in Janus but the agent's own session and its room-managing handle.
    const janusUp = agent.events().filter((e) => e.event === 'janus_up');
    const admin = await agentJanusAdmin(janusUp[janusUp.length - 1]?.pid as number);
    try {
      await waitFor('no room left', async () => (await admin.listRooms()).length === 0, 10_000, 100);
      const sessions = await admin.listSessions();
      const handles = await Promise.all(sessions.map((s) => admin.listHandles(s)));
      expect({ sessions: sessions.length, handles: handles.flat().length }).toEqual({
        sessions: 1,
        handles: 1,
      });
    } finally {
      admin.close();
    }
  });
});
