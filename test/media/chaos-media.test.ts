// The CI profile of the chaos suite's media scenarios (the full suite: npm run chaos), inside the
// run's network namespace: each on a fresh local cluster with short timings, every session's room
// on one media agent running Janus and a second agent with room, a Chromium camera per session and
// werift subscribers counting its video frames, while the clients exchange numbered messages
// through HAProxy. The agent hosting the rooms is SIGKILLed, its Janus SIGKILLed, the node
// SIGSTOPped, or the agent drained. Asserts invariants, never timings: the gaps are logged.
import { chaosMediaTools, type ChaosMediaTools } from '../../bench/support/chaos-media';
import { PROFILES, runScenario } from '../../local/chaos/run';
import { MEDIA_SCENARIOS } from '../../local/chaos/scenarios';
import { testNetwork } from '../support/netns';

const scenario = (id: string) => MEDIA_SCENARIOS.find((s) => s.id === id)!;
const SESSIONS = 2;
const SUBSCRIBERS = 3;

describe('chaos (CI profile): media scenarios', () => {
  const network = testNetwork();
  let tools: ChaosMediaTools;
  const gaps: Record<string, number[]> = {};

  beforeAll(async () => {
    // One browser for every scenario's cameras.
    tools = await chaosMediaTools(network.iceAddress);
  });

  afterAll(async () => {
    console.log(`chaos media: longest frame gap per subscriber (ms): ${JSON.stringify(gaps)}`);
    await tools?.close();
  });

  test.each(['kill-media-agent', 'kill-janus', 'stop-media-node', 'drain-media'])(
    '%s: no session or message lost, every subscriber receives frames again, no feed published twice, nothing left on the failed node',
    async (id) => {
      const result = await runScenario(scenario(id), PROFILES.fast, {
        sessions: SESSIONS,
        participantsPerSession: SUBSCRIBERS,
        afterMs: 1_000,
        media: tools,
      });
      const media = result.mediaFigures!;
      gaps[id] = [...media.frameGapsMs];

      // Signaling: as in every chaos scenario.
      expect(result).toMatchObject({
        sessionsLost: 0,
        sessionsOnDeadMedia: 0,
        messagesLost: 0,
        messagesDuplicated: 0,
        joinsFailed: 0,
        clientsFailed: 0,
        falseFlags: 0,
      });
      expect(result.messagesSent).toBeGreaterThan(0);
      // Media flowed to every subscriber before the fault and again after it.
      expect(media.setupError).toBeUndefined();
      expect(media).toMatchObject({
        publishers: SESSIONS,
        subscribers: SESSIONS * SUBSCRIBERS,
        notRecovered: 0,
        duplicatePublishers: 0,
        feedsLive: SESSIONS,
      });
      expect(media.frameGapsMs).toHaveLength(SESSIONS * SUBSCRIBERS);
      // Nothing left on the failed node's Janus (the restarted one after a Janus kill; a crashed
      // agent's Janus died with it; a drained one emptied before it stopped).
      expect(media.leftBehind).toMatchObject({ nodeId: expect.any(String), rooms: 0, handles: 0 });
      expect(media.leftBehind?.janusRunning).toBe(id === 'kill-janus');
      if (id === 'drain-media') {
        // Make-before-break: every session moved off while the node still carried its media.
        expect(media.leftBehind?.drainOutcome).toBe('empty');
      } else {
        // A loss: every subscriber's SDK re-subscribed on the other node.
        expect(media.mediaRestoredMs.length).toBeGreaterThanOrEqual(SESSIONS * SUBSCRIBERS);
      }
      if (id === 'kill-janus') {
        // The agent lives on and restarts its Janus: nothing to flag or replace.
        expect(result.flags).toBe(0);
      } else {
        expect(result.timeToFlagMs).toHaveLength(1);
        expect(result.timeToFlagMs.every((t) => t !== null)).toBe(true);
        expect(result.replacementReadyMs.every((t) => t !== null)).toBe(true);
      }
      expect(result.problems).toEqual([]);
    },
    150_000,
  );
});
