import { waitFor } from '../../../local/ports';
import type { MasterHandle } from '../../../runtime/master/master';
import {
  Api,
  FakeMediaNode,
  TestRegistry,
  recordingLogger,
  startRegistry,
  startTestMaster,
} from './support/harness';
import { Frame, TestSocket } from './support/ws-client';

// Issue 10 item 6: a herd of joins into one room, split over two masters. Every join completes,
// (retrying as the SDK does when the registry is too slow), and every member ends with the full
// roster, each other member seen as connected: in its joined frame, or announced to it (none lost).

const HERD = 300;

let registry: TestRegistry;
let media: FakeMediaNode;
const masters: MasterHandle[] = [];
const recorder = recordingLogger();
const opened: TestSocket[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  media = await new FakeMediaNode(registry.redis, 'media-herd').start();
  for (let i = 0; i < 2; i++)
    masters.push(await startTestMaster(registry.server.url, {}, true, recorder.log));
});
afterAll(async () => {
  for (const socket of opened) socket.terminate();
  media?.stop();
  for (const master of masters) await master.close();
  await registry?.stop();
});

test(`${HERD} members joining one room at once all join and all converge on the full roster`, async () => {
  const api = new Api(masters[0].url);
  await api.createSession('herd');
  const ids = Array.from({ length: HERD }, (_, i) => `p${i}`);
  const tokens = await Promise.all(ids.map((id) => api.token('herd', id)));
  // Like the SDK: an upgrade refused (503) or a join refused (4000) while the registry is too slow
  // is tried again after a backoff.
  const joinOnce = async (i: number): Promise<{ socket: TestSocket; joined: Frame }> => {
    for (let attempt = 1; ; attempt++) {
      const socket = await TestSocket.open(masters[i % 2].url).catch((err: Error) => err);
      if (!(socket instanceof Error)) {
        opened.push(socket);
        socket.send({ type: 'join', token: tokens[i] });
        const outcome: Frame = await Promise.race([socket.next({ type: 'joined' }, 60_000), socket.closed]);
        if (outcome.type === 'joined') return { socket, joined: outcome };
      }
      if (attempt === 10) throw new Error(`p${i}: join refused ${attempt} times`);
      await new Promise((r) => setTimeout(r, Math.random() * 250 * 2 ** Math.min(attempt, 4)));
    }
  };
  const members: { socket: TestSocket; joined: Frame }[] = [];
  // Like the SDK, every member pings: a slow herd must not look like silent sockets.
  const pings = setInterval(() => opened.forEach((s) => s.send({ type: 'ping' })), 2_000);
  members.push(...(await Promise.all(ids.map((_, i) => joinOnce(i)))));
  const sockets = members.map((m) => m.socket);
  const frames = members.map((m) => m.joined);

  const connectedSeenBy = (i: number): Set<string> => {
    const seen = new Set(
      (frames[i].participants as Frame[]).filter((p) => p.state === 'connected').map((p) => p.participantId),
    );
    for (const notice of sockets[i].ofType('participantJoined')) seen.add(notice.participant.participantId);
    // A join retried after its claim went through is a second claim: announced as a reconnect.
    for (const notice of sockets[i].ofType('participantReconnected')) seen.add(notice.participantId);
    seen.delete(ids[i]);
    return seen;
  };
  await waitFor(
    'every member sees every other as connected',
    () => ids.every((_, i) => connectedSeenBy(i).size === HERD - 1),
    60_000,
    200,
  );
  expect(recorder.events.filter((e) => e === 'announce_retry').length).toBeLessThan(HERD);
  clearInterval(pings);
}, 120_000);
