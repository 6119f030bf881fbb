import type { PublishedFeed } from '../../../runtime/contract/messages';
import { waitFor } from '../../../local/ports';
import {
  RtcHaMediaError,
  RtcHaNodeSession,
  RtcHaSessionEvents,
  RtcHaSessionOptions,
} from '../../../runtime/client/node';
import { FakeMediaStream, FakePeerConnection, fakeRtc, fakeTrack } from './fake-rtc';
import { ScriptedMaster } from './scripted-master';

const FAST: Omit<RtcHaSessionOptions, 'url' | 'token'> = {
  pingIntervalMs: 50,
  deadSocketTimeoutMs: 300,
  reconnect: { firstDelayMs: 10, baseDelayMs: 40, maxDelayMs: 200, maxReconnectMs: 3_000, drainJitterMs: 10 },
  rtc: fakeRtc,
};
const P2_FEED: PublishedFeed = { participantId: 'p2', feedId: 'p2', kinds: ['audio', 'video'] };
const OWN_FEED: PublishedFeed = { participantId: 'p1', feedId: 'p1', kinds: ['video'] };
/** What a media node's subscriber offer looks like to the fake: one track per m= line. */
const JANUS_OFFER = 'v=0 m=audio m=video';

const masters: ScriptedMaster[] = [];
const sessions: RtcHaNodeSession[] = [];

/** A master whose joined frame lists `feeds`, and whose resumed frame lists them when `missed`. */
async function master(feeds: PublishedFeed[] = []): Promise<ScriptedMaster> {
  const m: ScriptedMaster = await ScriptedMaster.start({
    onHandshake: (frame, socket) =>
      socket.send(m.handshakeReply(frame.type === 'join' ? 'joined' : 'resumed', { feeds })),
  });
  masters.push(m);
  return m;
}

const MEDIA_EVENTS = [
  'trackPublished',
  'trackUnpublished',
  'trackAdded',
  'trackRemoved',
  'mediaError',
  'mediaReconnecting',
  'mediaRestored',
  'mediaMoved',
  'error',
] as const;

async function joined(m: ScriptedMaster, options: Partial<RtcHaSessionOptions> = {}) {
  const s = new RtcHaNodeSession({ ...FAST, url: m.url, token: 'connection-token', ...options });
  sessions.push(s);
  const events: { name: keyof RtcHaSessionEvents; payload: unknown }[] = [];
  for (const name of MEDIA_EVENTS) s.on(name, (payload) => events.push({ name, payload }));
  const of = <K extends keyof RtcHaSessionEvents>(name: K) =>
    events.filter((e) => e.name === name).map((e) => e.payload as RtcHaSessionEvents[K]);
  const until = (name: keyof RtcHaSessionEvents, n = 1) =>
    waitFor(`${n} ${name} event(s)`, () => of(name).length >= n, 5_000, 5);
  await s.connect();
  return { s, events, of, until };
}

function frames(m: ScriptedMaster) {
  return {
    wait: (type: Parameters<ScriptedMaster['received']>[0], n = 1) =>
      waitFor(`${n} ${type} frame(s)`, () => m.received(type).length >= n, 5_000, 5),
  };
}

const camera = () =>
  new FakeMediaStream([fakeTrack('audio'), fakeTrack('video')], 'camera') as unknown as MediaStream;

/** A joined participant receiving p2's feed (subscription sub-old) and publishing its own (p1). */
async function publishingAndReceiving() {
  const m = await master([P2_FEED]);
  const joinedSession = await joined(m);
  const { s, until } = joinedSession;
  await frames(m).wait('subscribe');
  m.last.send({
    type: 'subscribeOffer',
    requestId: m.received('subscribe')[0].requestId,
    subscriptionId: 'sub-old',
    sdp: JANUS_OFFER,
  });
  await frames(m).wait('subscribeAnswer');
  m.last.send({ type: 'subscribed', subscriptionId: 'sub-old' });
  await until('trackAdded');
  const publishing = s.publish(camera());
  await frames(m).wait('publish');
  m.last.send({
    type: 'publishAnswer',
    requestId: m.received('publish')[0].requestId,
    feedId: 'p1',
    sdp: 'a',
  });
  return { m, ...joinedSession, publication: await publishing };
}

beforeEach(() => FakePeerConnection.reset());
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  await Promise.all(masters.splice(0).map((m) => m.stop()));
});

describe('RtcHaSession media', () => {
  test('publish offers the tracks sendonly, applies the answer, then trickles its candidates', async () => {
    // GIVEN
    const m = await master();
    const iceServers = [{ urls: 'turn:turn.example.com:3478', username: 'u', credential: 'c' }];
    const { s } = await joined(m, { iceServers, iceTransportPolicy: 'relay' });

    // WHEN the app publishes; candidates gather before the answer is back
    const published = s.publish(camera());
    await frames(m).wait('publish');
    const pc = FakePeerConnection.created[0];
    pc.gather('candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host');
    const [publish] = m.received('publish');
    m.last.send({ type: 'publishAnswer', requestId: publish.requestId, feedId: 'p1', sdp: 'janus-answer' });
    const publication = await published;

    // THEN
    expect(publish).toEqual({ type: 'publish', requestId: expect.any(String), sdp: 'offer-of-pc-1' });
    expect(pc.configuration).toEqual({ iceServers, iceTransportPolicy: 'relay' });
    expect(pc.transceivers.map((t) => [t.track.kind, t.direction, t.streams.length])).toEqual([
      ['audio', 'sendonly', 1],
      ['video', 'sendonly', 1],
    ]);
    expect(pc.remoteDescription).toEqual({ type: 'answer', sdp: 'janus-answer' });
    expect(publication.feedId).toBe('p1');
    await frames(m).wait('trickle', 2);
    // Held until the media node had the offer: after the publish on the wire, never before it.
    const mediaFrames = m.last.frames.filter((f) => f.type === 'publish' || f.type === 'trickle');
    expect(mediaFrames.map((f) => f.type)).toEqual(['publish', 'trickle', 'trickle']);
    expect(m.received('trickle')).toEqual([
      {
        type: 'trickle',
        target: 'publisher',
        candidate: {
          candidate: 'candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
        },
      },
      { type: 'trickle', target: 'publisher', candidate: null },
    ]);

    // AND one publication at a time; unpublish closes its connection and tells the master
    await expect(s.publish([fakeTrack('video')])).rejects.toMatchObject({ code: 'already_publishing' });
    publication.unpublish();
    await frames(m).wait('unpublish');
    expect(pc.closed).toBe(true);
    expect(FakePeerConnection.created).toHaveLength(1);
  });

  test('autoSubscribe: subscribes to every other feed (listed on join or published later), not the own', async () => {
    // GIVEN a room where p2 and the participant itself publish
    const m = await master([P2_FEED, OWN_FEED]);
    const { of, until } = await joined(m);
    await frames(m).wait('subscribe');

    // WHEN p3 publishes too, and the media node offers both subscriptions
    m.last.send({ type: 'trackPublished', seq: 1, participantId: 'p3', feedId: 'p3', kinds: ['audio'] });
    await frames(m).wait('subscribe', 2);
    const [forP2, forP3] = m.received('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: forP2.requestId,
      subscriptionId: 'sub-2',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    const pc = FakePeerConnection.created[0];
    pc.gather('candidate:2 1 udp 1 10.0.0.2 50001 typ host');
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-2' });
    await until('trackAdded');

    // THEN
    expect(of('trackPublished').map((f) => f.feedId)).toEqual(['p2', 'p1', 'p3']);
    expect([forP2.feedId, forP3.feedId]).toEqual(['p2', 'p3']);
    expect(m.received('subscribe')).toHaveLength(2);
    expect(pc.remoteDescription).toEqual({ type: 'offer', sdp: JANUS_OFFER });
    expect(m.received('subscribeAnswer')).toEqual([
      { type: 'subscribeAnswer', subscriptionId: 'sub-2', sdp: 'answer-of-pc-1' },
    ]);
    await frames(m).wait('trickle', 2);
    expect(m.received('trickle').map((t) => [t.target, t.candidate?.candidate ?? null])).toEqual([
      ['sub-2', 'candidate:2 1 udp 1 10.0.0.2 50001 typ host'],
      ['sub-2', null],
    ]);
    const added = of('trackAdded')[0];
    expect(added).toMatchObject({ participantId: 'p2', feedId: 'p2' });
    expect(added.stream.getTracks().map((t) => t.kind)).toEqual(['audio', 'video']);

    // AND when p2 unpublishes, its subscription is ended (Janus keeps the handle otherwise), its
    // connection closes and trackRemoved fires
    m.last.send({ type: 'trackUnpublished', seq: 2, participantId: 'p2', feedId: 'p2' });
    await until('trackRemoved');
    await frames(m).wait('unsubscribe');
    expect(m.received('unsubscribe')).toEqual([{ type: 'unsubscribe', subscriptionId: 'sub-2' }]);
    expect(of('trackRemoved')).toEqual([{ participantId: 'p2', feedId: 'p2' }]);
    expect(of('trackUnpublished')).toEqual([{ participantId: 'p2', feedId: 'p2' }]);
    expect(pc.closed).toBe(true);
  });

  test('explicit subscribe and unsubscribe when autoSubscribe is off', async () => {
    // GIVEN
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m, { autoSubscribe: false });
    await until('trackPublished');
    expect(m.received('subscribe')).toHaveLength(0);

    // WHEN
    const subscribing = s.subscribe('p2');
    await frames(m).wait('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[0].requestId,
      subscriptionId: 'sub-9',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-9' });
    const feed = await subscribing;
    s.unsubscribe('p2');

    // THEN
    expect(feed).toMatchObject({ participantId: 'p2', feedId: 'p2' });
    expect(of('trackAdded')[0].stream).toBe(feed.stream);
    await frames(m).wait('unsubscribe');
    expect(m.received('unsubscribe')).toEqual([{ type: 'unsubscribe', subscriptionId: 'sub-9' }]);
    expect(of('trackRemoved')).toEqual([{ participantId: 'p2', feedId: 'p2' }]);
    expect(FakePeerConnection.created[0].closed).toBe(true);
    await expect(s.subscribe('nobody')).rejects.toMatchObject({ code: 'unknown_feed' });
  });

  test('a refused request rejects its call; a refused automatic subscription is a mediaError', async () => {
    // GIVEN
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m);
    await frames(m).wait('subscribe');

    // WHEN the master refuses the subscription and a publish
    const refuse = (requestId: string | number, code: 'no_such_feed' | 'media_unavailable') =>
      m.last.send({ type: 'error', code, message: 'nope', requestId });
    refuse(m.received('subscribe')[0].requestId, 'no_such_feed');
    const publishing = s.publish(camera());
    await frames(m).wait('publish');
    refuse(m.received('publish')[0].requestId, 'media_unavailable');

    // THEN
    await expect(publishing).rejects.toMatchObject({ name: 'RtcHaMediaError', code: 'media_unavailable' });
    await until('mediaError');
    expect(of('mediaError')).toEqual([{ code: 'no_such_feed', message: 'refused: nope', feedId: 'p2' }]);
    expect(of('error')).toEqual([]); // not the session's error: the call or mediaError reports it
    expect(FakePeerConnection.created.every((pc) => pc.closed)).toBe(true);
    expect(m.received('unpublish')).toHaveLength(0); // nothing published to take back
  });

  test('without a WebRTC implementation media calls fail naming the option, and signaling works', async () => {
    // GIVEN a Node session without `rtc` (Node has no global RTCPeerConnection)
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m, { rtc: undefined });

    // WHEN / THEN
    const error = await s.publish(camera()).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RtcHaMediaError);
    expect(error).toMatchObject({ code: 'no_webrtc', message: expect.stringMatching(/options\.rtc/) });
    await expect(s.subscribe('p2')).rejects.toMatchObject({ code: 'no_webrtc' });
    await until('trackPublished'); // feeds are still reported...
    expect(m.received('subscribe')).toHaveLength(0); // ...but not subscribed to
    expect(of('mediaError')).toEqual([]);
    s.sendMessage('still signaling');
    await frames(m).wait('message');
  });

  test('after a resume, lost requests and candidates go out again and no connection is touched', async () => {
    // GIVEN a subscription up, and a publish whose offer went into a master that then died
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m);
    await frames(m).wait('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[0].requestId,
      subscriptionId: 'sub-2',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-2' });
    await until('trackAdded');
    const publishing = s.publish(camera());
    await frames(m).wait('publish');
    const [publish] = m.received('publish');
    const [subscriber, publisher] = FakePeerConnection.created;

    // WHEN the socket drops, the subscriber gathers a candidate meanwhile, and the session resumes
    const resumed = new Promise((resolve) => s.once('resumed', resolve));
    m.last.ws.terminate();
    await new Promise((resolve) => s.once('reconnecting', resolve));
    subscriber.gather('candidate:3 1 udp 1 10.0.0.2 50002 typ host');
    await resumed;
    await waitFor('the publish again', () => m.last.frames.some((f) => f.type === 'publish'), 5_000, 5);
    m.last.send({ type: 'publishAnswer', requestId: publish.requestId, feedId: 'p1', sdp: 'janus-answer' });
    await publishing;

    // THEN the same publish (same requestId: the master answers it once) went out again
    expect(m.last.frames.filter((f) => f.type === 'publish')).toEqual([publish]);
    // the subscriber's candidates made while down went out after the resume
    await waitFor(
      'the candidates',
      () => m.last.frames.filter((f) => f.type === 'trickle').length >= 2,
      5_000,
      5,
    );
    expect(m.last.frames.filter((f) => f.type === 'trickle' && f.target === 'sub-2')).toHaveLength(2);
    // and nothing was renegotiated: same connections, open, one trackAdded
    expect(FakePeerConnection.created).toEqual([subscriber, publisher]);
    expect([subscriber.closed, publisher.closed]).toEqual([false, false]);
    expect(of('trackAdded')).toHaveLength(1);
    expect(m.received('subscribe')).toHaveLength(1);
  });

  test('an unpublish while the socket is down ends the publish, which is not sent again', async () => {
    // GIVEN a publish waiting for its answer when the socket drops
    const m = await master();
    const { s } = await joined(m);
    const publishing = s.publish(camera()).catch((err: unknown) => err);
    await frames(m).wait('publish');
    const resumed = new Promise((resolve) => s.once('resumed', resolve));
    m.last.ws.terminate();
    await new Promise((resolve) => s.once('reconnecting', resolve));

    // WHEN the app unpublishes meanwhile
    s.unpublish();
    await resumed;

    // THEN the publish ends, and only the unpublish goes out after the resume
    expect(await publishing).toMatchObject({ code: 'closed' });
    await waitFor('the unpublish', () => m.last.frames.some((f) => f.type === 'unpublish'), 5_000, 5);
    expect(m.last.frames.filter((f) => f.type === 'publish' || f.type === 'unpublish')).toEqual([
      { type: 'unpublish' },
    ]);
    expect(FakePeerConnection.created[0].closed).toBe(true);
  });

  test('an answer whose reply was lost: the re-sent one is refused, the connection coming up completes it', async () => {
    // GIVEN an answer the media node took, its `subscribed` lost with the master
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m);
    await frames(m).wait('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[0].requestId,
      subscriptionId: 'sub-2',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    const resumed = new Promise((resolve) => s.once('resumed', resolve));
    m.last.ws.terminate();
    await resumed;

    // WHEN the re-sent answer is refused, and then ICE and DTLS come up
    await waitFor(
      'the answer again',
      () => m.last.frames.some((f) => f.type === 'subscribeAnswer'),
      5_000,
      5,
    );
    m.last.send({
      type: 'error',
      code: 'media_failed',
      message: 'unexpected answer',
      subscriptionId: 'sub-2',
    });
    FakePeerConnection.created[0].setConnectionState('connected');

    // THEN the subscription stands
    await until('trackAdded');
    expect(of('mediaError')).toEqual([]);
    expect(of('error')).toEqual([]);
    expect(FakePeerConnection.created[0].closed).toBe(false);
  });

  test('a request with no reply times out and takes back what it may have published', async () => {
    // GIVEN
    const m = await master();
    const { s } = await joined(m, { mediaTimeoutMs: 200 });

    // WHEN nothing answers the publish
    const error = await s.publish(camera()).catch((err: unknown) => err);

    // THEN
    expect(error).toMatchObject({ code: 'timeout' });
    await frames(m).wait('unpublish');
    expect(FakePeerConnection.created[0].closed).toBe(true);
  });

  test('a failed connection is a mediaError; closing the session closes every connection', async () => {
    // GIVEN a subscription up and a publish waiting for its answer
    const m = await master([P2_FEED]);
    const { s, of, until } = await joined(m);
    await frames(m).wait('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[0].requestId,
      subscriptionId: 'sub-2',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-2' });
    await until('trackAdded');
    const publishing = s.publish(camera());
    await frames(m).wait('publish');

    // WHEN the subscription's ICE fails, then the app closes the session
    FakePeerConnection.created[0].setConnectionState('failed');
    s.close();

    // THEN
    expect(of('mediaError')).toEqual([
      { code: 'connection_failed', message: expect.stringMatching(/feed p2/), feedId: 'p2' },
    ]);
    await expect(publishing).rejects.toMatchObject({ code: 'closed' });
    expect(FakePeerConnection.created.map((pc) => pc.closed)).toEqual([true, true]);
    expect(of('trackRemoved')).toEqual([{ participantId: 'p2', feedId: 'p2' }]);
    await expect(s.publish(camera())).rejects.toMatchObject({ code: 'closed' });
  });

  test('mediaNodeChanged: publishes the same tracks again, re-subscribes once the feed is back, then mediaRestored', async () => {
    // GIVEN a participant publishing (feed p1) and receiving p2's feed
    const { m, of, until, events, publication } = await publishingAndReceiving();
    const [oldSub, oldPub] = FakePeerConnection.created;

    // WHEN the session's media node dies and the platform moves it
    const mediaNode = { nodeId: 'media-b', address: '10.0.0.9' };
    m.last.send({ type: 'mediaNodeChanged', seq: 1, mediaNode });

    // THEN at once: mediaReconnecting, the old connections closed, the same tracks offered again
    await until('mediaReconnecting');
    expect(of('mediaReconnecting')).toEqual([{ mediaNodeId: 'media-b' }]);
    expect([oldSub.closed, oldPub.closed]).toEqual([true, true]);
    await frames(m).wait('publish', 2);
    const newPub = FakePeerConnection.created[2];
    expect(newPub.transceivers.map((t) => t.track)).toEqual(oldPub.transceivers.map((t) => t.track));
    m.last.send({
      type: 'publishAnswer',
      requestId: m.received('publish')[1].requestId,
      feedId: 'p1',
      sdp: 'answer-b',
    });
    // no subscribe before p2's feed is up on the new node, and nothing told about the old subscription
    expect(m.received('subscribe')).toHaveLength(1);
    expect(m.received('unsubscribe')).toEqual([]);
    newPub.setConnectionState('connected');
    expect(of('mediaRestored')).toEqual([]); // the subscription is not back yet

    // WHEN p2's feed is up on the new node
    m.last.send({ type: 'trackPublished', seq: 2, ...P2_FEED });
    await frames(m).wait('subscribe', 2);
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[1].requestId,
      subscriptionId: 'sub-new',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer', 2);
    const newSub = FakePeerConnection.created[3];
    newSub.setConnectionState('connected');
    await until('mediaRestored');

    // THEN the feed is added again (a new stream), announced once only, and media is restored
    expect(of('trackAdded').map((e) => e.feedId)).toEqual(['p2', 'p2']);
    expect(of('trackPublished').map((e) => e.feedId)).toEqual(['p2']);
    expect(of('mediaRestored')).toEqual([{ gapMs: expect.any(Number), mediaNodeId: 'media-b' }]);
    expect(events.map((e) => e.name).filter((n) => n.startsWith('media'))).toEqual([
      'mediaReconnecting',
      'mediaRestored',
    ]);
    expect(of('trackRemoved')).toEqual([]);
    // AND the app's Publication still works
    publication.unpublish();
    await frames(m).wait('unpublish');
    expect(newPub.closed).toBe(true);
  });

  test('mediaNodeChanged with handover: make-before-break, the old connections close only once replaced', async () => {
    // GIVEN a participant publishing (feed p1) and receiving p2's feed
    const { m, of, until, events } = await publishingAndReceiving();
    const [oldSub, oldPub] = FakePeerConnection.created;

    // WHEN the media node drains and the platform hands the session over
    m.last.send({
      type: 'mediaNodeChanged',
      seq: 1,
      mediaNode: { nodeId: 'media-b', address: '10.0.0.9' },
      handover: true,
    });

    // THEN the same tracks are offered again while the old connections stay open
    await frames(m).wait('publish', 2);
    expect([oldSub.closed, oldPub.closed]).toEqual([false, false]);
    m.last.send({
      type: 'publishAnswer',
      requestId: m.received('publish')[1].requestId,
      feedId: 'p1',
      sdp: 'b',
    });
    const newPub = FakePeerConnection.created[2];
    newPub.setConnectionState('connected');
    // the old publisher keeps sending for mediaHandoverMs: subscribers elsewhere switch meanwhile
    expect(oldPub.closed).toBe(false);

    // WHEN p2's feed is up on the new node and the new subscription comes up
    m.last.send({ type: 'trackPublished', seq: 2, ...P2_FEED });
    await frames(m).wait('subscribe', 2);
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[1].requestId,
      subscriptionId: 'sub-new',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer', 2);
    expect(oldSub.closed).toBe(false);
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-new' });
    FakePeerConnection.created[3].setConnectionState('connected');
    await until('mediaMoved');

    // THEN the feed is added again with the new stream, the old subscription closed (not unsubscribed:
    // the draining node drops its room itself), and no loss was ever announced
    expect(oldSub.closed).toBe(true);
    expect(m.received('unsubscribe')).toEqual([]);
    expect(of('trackAdded').map((e) => e.feedId)).toEqual(['p2', 'p2']);
    expect(of('mediaMoved')).toEqual([{ tookMs: expect.any(Number), mediaNodeId: 'media-b' }]);
    expect(events.map((e) => e.name).filter((n) => n.startsWith('media'))).toEqual(['mediaMoved']);
    expect(of('trackRemoved')).toEqual([]);
  });

  test('renegotiate: a subscription is replaced on the same node, the old one unsubscribed once replaced', async () => {
    const m = await master([P2_FEED]);
    const { of, until, events } = await joined(m);
    await frames(m).wait('subscribe');
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[0].requestId,
      subscriptionId: 'sub-stuck',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer');
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-stuck' });
    await until('trackAdded');
    const [stuck] = FakePeerConnection.created;

    // WHEN the master answers a stall report with renegotiate
    m.last.send({ type: 'renegotiate', target: 'sub-stuck' });

    // THEN a new subscription is made while the old plays, and the old one goes once it is up
    await frames(m).wait('subscribe', 2);
    m.last.send({
      type: 'subscribeOffer',
      requestId: m.received('subscribe')[1].requestId,
      subscriptionId: 'sub-fresh',
      sdp: JANUS_OFFER,
    });
    await frames(m).wait('subscribeAnswer', 2);
    expect(stuck.closed).toBe(false);
    m.last.send({ type: 'subscribed', subscriptionId: 'sub-fresh' });
    await frames(m).wait('unsubscribe');
    expect(m.received('unsubscribe')).toMatchObject([{ subscriptionId: 'sub-stuck' }]);
    expect(stuck.closed).toBe(true);
    expect(of('trackAdded').map((e) => e.feedId)).toEqual(['p2', 'p2']);
    expect(events.map((e) => e.name).filter((n) => n.startsWith('media'))).toEqual([]);
  });

  test('a move naming no media node waits for the next; a publisher that left is not waited for', async () => {
    // GIVEN a participant publishing and receiving p2's feed
    const { m, of, until } = await publishingAndReceiving();

    // WHEN the media node is lost and no other has room yet
    m.last.send({ type: 'mediaNodeChanged', seq: 1, mediaNode: null });
    await until('mediaReconnecting');

    // THEN nothing is published until a node is named
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(m.received('publish')).toHaveLength(1);
    expect(of('mediaReconnecting')).toEqual([{ mediaNodeId: null }]);

    // WHEN one is, and p2 leaves the session before publishing there
    m.last.send({ type: 'mediaNodeChanged', seq: 2, mediaNode: { nodeId: 'media-c', address: '10.0.0.7' } });
    await frames(m).wait('publish', 2);
    m.last.send({
      type: 'publishAnswer',
      requestId: m.received('publish')[1].requestId,
      feedId: 'p1',
      sdp: 'c',
    });
    m.last.send({ type: 'participantLeft', seq: 3, participantId: 'p2' });
    await until('trackRemoved');
    expect(of('mediaRestored')).toEqual([]);
    FakePeerConnection.created[2].setConnectionState('connected');

    // THEN media is restored with the publisher alone, announced once
    await until('mediaRestored');
    expect(of('mediaReconnecting')).toHaveLength(1);
    expect(of('mediaRestored')).toEqual([{ gapMs: expect.any(Number), mediaNodeId: 'media-c' }]);
    expect(of('trackUnpublished')).toEqual([{ participantId: 'p2', feedId: 'p2' }]);
    expect(m.received('subscribe')).toHaveLength(1);
  });
});
