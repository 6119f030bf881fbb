/**
 * Media through a pair failover, for real: the pair in network namespaces (local/standby/pair.ts)
 * with Janus beside each node's media agent, and in the client namespace the chaos suite's media
 * clients (a Chromium camera publishing into the session, two werift subscribers counting the video
 * frames they receive) joined through the floating address. Every process of the active node is
 * SIGKILLed: the standby takes over, fences the old active's media registration, and the masters
 * move the room to its media agent. Asserts that every subscriber receives video again from the new
 * active's Janus, within a loose bound (the time is printed, not asserted tight), that the sessions
 * were resumed (no client failed or joined again), and that nothing of the run is left running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startClients, type ClientsReport } from '../../local/standby/clients';
import type { FramesAfter } from '../../local/standby/driver';
import { NODE_NAMES, PAIR_NET, StandbyPair, mediaNodeOf } from '../../local/standby/pair';

// Only namespaces are a reason to skip: a missing keepalived, Janus or Chromium fails the test.
const unavailable = process.getuid?.() !== 0 ? 'network namespaces need root (CI runs as root)' : undefined;
if (unavailable) process.stderr.write(`standby pair media test skipped: ${unavailable}\n`);
const describeWhereNamespacesWork = unavailable ? describe.skip : describe;

const API_SECRET = 'rtc-ha-standby-media-secret-0123';
const MEDIA_DRIVER = join(__dirname, 'support', 'media-driver.ts');
const PARTICIPANTS = 2;
/** A takeover is ~4 s here (VRRP's master-down interval), the clients' resume within their backoff. */
const TAKEOVER_TIMEOUT_MS = 45_000;
/** The loose bound on the kill to video at every subscriber again: measured well under it. */
const VIDEO_AGAIN_BOUND_MS = 30_000;

/** `pid` runs (a zombie, killed and waiting for its parent's wait, does not): its command line. */
function running(pid: number): string[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return [];
    return [`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`];
  } catch {
    return []; // gone
  }
}
const namespacesLeft = (namespaces: readonly string[]) => {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return namespaces.filter((ns) => listed.includes(ns));
};

describeWhereNamespacesWork('active-standby pair with Janus on both nodes', () => {
  test('every process of the active node SIGKILLed: subscribers receive video again from the new active’s Janus, sessions resumed, nothing left running', async () => {
    const started = Date.now();
    const pair = await StandbyPair.start({
      failback: 'manual',
      preemptDelayS: 2,
      apiSecret: API_SECRET,
      janus: true,
    });
    const namespaces = Object.values(pair.namespaces);
    let result: ClientsReport;
    let flowing: FramesAfter | undefined;
    let again: FramesAfter;
    let killToServingMs: number;
    let pids: number[];
    try {
      // Only the active's media agent is registered: the room is on it.
      expect(await pair.liveMediaNodes('a')).toEqual([mediaNodeOf('a')]);
      const clients = await startClients(pair, {
        runId: 'media',
        sessions: 1,
        messageIntervalMs: 200,
        media: { iceAddress: PAIR_NET.client, flowingTimeoutMs: 30_000 },
        program: MEDIA_DRIVER,
      });
      try {
        flowing = clients.flowing;
        expect(flowing?.error).toBeUndefined();
        const killedAt = Date.now();
        pair.killNode('a');
        await pair.waitUntilServing('b', TAKEOVER_TIMEOUT_MS);
        killToServingMs = Date.now() - killedAt;
        again = await clients.framesAfter(killedAt, VIDEO_AGAIN_BOUND_MS);
      } finally {
        result = await clients.stop();
      }
      // The clients, their browser and their subscribers ended by themselves.
      expect(pair.pidsIn('client')).toEqual([]);
      expect(await pair.liveMediaNodes('b')).toEqual([mediaNodeOf('b')]);
      // Every process of the run (the nodes', Janus on b, anything the clients left), for the end.
      pids = [...NODE_NAMES, 'client' as const].flatMap((where) => pair.pidsIn(where));
    } finally {
      await pair.stop();
    }

    const restored = result.media?.restored ?? [];
    console.log(
      `standby pair media: kill to the standby serving ${killToServingMs} ms; kill to the first video ` +
        `frame per subscriber ${JSON.stringify(again.firstFrameMs)} ms, to video flowing ` +
        `(15 frames) ${JSON.stringify(again.flowingMs)} ms; SDK mediaRestored gapMs ` +
        `${JSON.stringify(restored.map((r) => r.gapMs))}; first video after publishing ` +
        `${JSON.stringify(flowing?.firstFrameMs)} ms; whole run ${Date.now() - started} ms`,
    );

    // Video flowed before the kill (checked then), and again after it at every subscriber, within the bound.
    expect(again.error).toBeUndefined();
    expect(again.firstFrameMs).toHaveLength(PARTICIPANTS);
    expect(again.flowingMs.every((ms) => ms !== null && ms < VIDEO_AGAIN_BOUND_MS)).toBe(true);
    // From the new active's Janus: the room is on its media agent, where every subscriber's media
    // came back (node a's Janus died with the node, so every frame after the kill came from b's).
    const { report, media } = result;
    expect(report.mediaNodes).toEqual([mediaNodeOf('b')]);
    expect(media).toMatchObject({ cameras: 1, subscribers: PARTICIPANTS, mediaErrors: [] });
    expect(restored.length).toBeGreaterThanOrEqual(PARTICIPANTS);
    expect(restored.map((r) => r.mediaNodeId)).toEqual(restored.map(() => mediaNodeOf('b')));
    // Resumed, not rebuilt: every client resumed its session, none failed or joined again, and
    // nothing was lost or duplicated on the way.
    expect({ overlaps: result.overlaps, samples: result.overlapSamples }).toEqual({
      overlaps: 0,
      samples: [],
    });
    expect(report).toMatchObject({
      sessions: 1,
      participants: PARTICIPANTS,
      joinsFailed: 0,
      clientsFailed: 0,
      sessionsLost: 0,
      messagesLost: 0,
      messagesDuplicated: 0,
      unaccepted: 0,
    });
    expect(report.reconnects).toBeGreaterThanOrEqual(PARTICIPANTS);
    expect(report.messagesSent).toBeGreaterThan(0);
    // Nothing left: every process of the run gone, the namespaces and Janus's folders removed.
    expect(pids.flatMap(running)).toEqual([]);
    expect(namespacesLeft(namespaces)).toEqual([]);
    expect(pair.janusDir && existsSync(pair.janusDir)).toBe(false);
  }, 150_000);
});
