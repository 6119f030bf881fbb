import { waitFor } from '../../../../local/ports';
import { JanusAdmin, JanusClient, JanusSupervisor } from '../../../../runtime/media/janus';
import { TEST_ICE_ADDRESS, startJanus, testSpec } from './support';

let janus: JanusSupervisor;
let admin: JanusAdmin;
let client: JanusClient;
beforeAll(async () => {
  janus = await startJanus({ spec: await testSpec({ sessionTimeoutSeconds: 2 }) });
  admin = await janus.connectAdmin();
});
beforeEach(async () => {
  client = await janus.connectClient({ keepaliveMs: 500 });
});
afterEach(() => client.close());
afterAll(async () => {
  admin.close();
  await janus.stop();
});

/** What is left inside Janus: sessions, and handles across them. */
async function leftInJanus(): Promise<{ sessions: number; handles: number; rooms: string[] }> {
  const sessions = await admin.listSessions();
  const handles = await Promise.all(sessions.map((s) => admin.listHandles(s)));
  return { sessions: sessions.length, handles: handles.flat().length, rooms: await admin.listRooms() };
}

/** A browser-like audio offer: ICE credentials, a DTLS fingerprint, one Opus m-line. */
const OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS stream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=ice-options:trickle',
  `a=fingerprint:sha-256 ${Array.from({ length: 32 }, () => 'AB').join(':')}`,
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=msid:stream track',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=ssrc:1001 cname:test',
  '',
].join('\r\n');

test('a room is created, refused again (427), listed, destroyed; nothing is left', async () => {
  const session = await client.createSession();
  const handle = await session.attachVideoRoom();
  await handle.createRoom('session-a');
  await expect(handle.createRoom('session-a')).rejects.toMatchObject({ code: 427 });
  await expect(handle.roomExists('session-a')).resolves.toBe(true);
  expect(await leftInJanus()).toEqual({ sessions: 1, handles: 1, rooms: ['session-a'] });
  expect(await janus.load()).toMatchObject({ rooms: 1, publishers: 0, subscribers: 0, bitrateIn: 0 });

  await handle.destroyRoom('session-a');
  await expect(handle.destroyRoom('session-a')).rejects.toMatchObject({ code: 426 });
  await handle.detach();
  await session.destroy();
  expect(await leftInJanus()).toEqual({ sessions: 0, handles: 0, rooms: [] });
});

test('a publisher joins and publishes an offer; the answer carries Janus candidates on the node address', async () => {
  const session = await client.createSession();
  const manager = await session.attachVideoRoom();
  await manager.createRoom('session-b');
  const alice = await session.attachVideoRoom();
  await expect(alice.joinAsPublisher('session-b', 'alice')).resolves.toEqual({
    room: 'session-b',
    id: 'alice',
    publishers: [],
  });
  const answer = await alice.publish({ type: 'offer', sdp: OFFER });
  expect(answer.type).toBe('answer');
  expect(answer.sdp).toContain(`a=candidate:`);
  expect(answer.sdp).toContain(` ${TEST_ICE_ADDRESS} `);
  expect(answer.sdp).not.toMatch(/ 127\.0\.0\.1 \d+ typ host/);
  await alice.trickle({ candidate: 'candidate:1 1 udp 2122260223 10.9.8.7 50000 typ host', sdpMid: '0' });
  await alice.trickleCompleted();
  await waitFor('a publisher in the load figures', async () => (await janus.load())?.publishers === 1);

  // No webrtcup (no media here): its feed cannot be subscribed to yet.
  const bob = await session.attachVideoRoom();
  await expect(bob.joinAsSubscriber('session-b', ['alice'])).rejects.toMatchObject({ code: 428 });

  // Janus refuses to unpublish a feed that never came up; leaving takes it away.
  await expect(alice.unpublish()).rejects.toMatchObject({ code: 435 });
  await alice.leave();
  await manager.destroyRoom('session-b');
  await session.destroy();
  expect(await leftInJanus()).toEqual({ sessions: 0, handles: 0, rooms: [] });
});

test('sessions are kept alive past the session timeout, and die with the socket', async () => {
  const session = await client.createSession();
  await session.attachVideoRoom();
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // session_timeout is 2 s
  expect(await admin.listSessions()).toEqual([session.id]);
  client.close();
  await waitFor('no session left', async () => (await leftInJanus()).sessions === 0, 2_000);
});

test('a detached handle gets its event; a destroyed room notifies its publisher', async () => {
  const session = await client.createSession();
  const manager = await session.attachVideoRoom();
  await manager.createRoom('session-c');
  const alice = await session.attachVideoRoom();
  await alice.joinAsPublisher('session-c', 'alice');
  const events: string[] = [];
  alice.onEvent((event) => events.push(event.type === 'plugin' ? String(event.data.videoroom) : event.type));
  await manager.destroyRoom('session-c');
  await waitFor('destroyed', () => events.includes('destroyed'), 2_000);
  const detached = alice.waitFor('detached', 2_000);
  await alice.detach();
  await detached;
  await session.destroy();
});
