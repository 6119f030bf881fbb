/**
 * The CI profile of the chaos suite (the full suite: npm run chaos). Each scenario runs on a
 * fresh local cluster with short timings (heartbeat 250 ms, TTL 750 ms, watchdog cycle 500 ms):
 * clients exchange numbered messages through HAProxy while a node is crashed, hung or drained.
 */
import { FrameLog } from '../../local/chaos/media';
import { PROFILES, ScenarioResult, runScenario } from '../../local/chaos/run';
import { MEDIA_SCENARIOS, SCENARIOS } from '../../local/chaos/scenarios';

const scenario = (id: string) => SCENARIOS.find((s) => s.id === id)!;
const CI_SCENARIOS = ['kill-master', 'hang-master', 'kill-media', 'drain-master', 'kill-mid-join'];

describe('chaos (CI profile)', () => {
  test.each(CI_SCENARIOS)(
    '%s: no session or message lost, none duplicated, the node flagged and replaced, no false flag',
    async (id) => {
      const result = await runScenario(scenario(id), PROFILES.fast, { sessions: 3, afterMs: 1_000 });
      expect(result).toMatchObject({
        sessionsLost: 0,
        sessionsOnDeadMedia: 0,
        messagesLost: 0,
        messagesDuplicated: 0,
        joinsFailed: 0,
        clientsFailed: 0,
        falseFlags: 0,
      });
      expect(result.lostSample).toEqual([]);
      expect(result.problems).toEqual([]);
      expect(result.messagesSent).toBeGreaterThan(0);
      expect(result.timeToFlagMs.every((t) => t !== null)).toBe(true);
      expect(result.replacementReadyMs.every((t) => t !== null)).toBe(true);
    },
    90_000,
  );
});

describe('chaos (CI profile): Redis paused for 10 s', () => {
  let result: ScenarioResult;
  beforeAll(async () => {
    result = await runScenario(scenario('redis-pause'), PROFILES.fast, { sessions: 3, afterMs: 1_000 });
  }, 90_000);

  test('no false flag (the watchdog holds while the registry is away), no session lost, nothing duplicated', () => {
    expect(result).toMatchObject({
      falseFlags: 0,
      flags: 0,
      sessionsLost: 0,
      messagesDuplicated: 0,
      clientsFailed: 0,
    });
    expect(result.holds).toBeGreaterThan(0);
    // every client went without deliveries for about the pause, its socket up
    expect(result.interruptionsMs.filter((ms) => ms > 9_000)).toHaveLength(result.participants);
    expect(result.reconnects).toBe(0);
  });

  test('no message lost: frames that failed while Redis was away are resent and delivered once', () => {
    expect(result.lostSample).toEqual([]);
    expect(result.messagesLost).toBe(0);
  });
});

// The media scenarios themselves run in test/media/chaos-media.test.ts (they need a network namespace).
describe('chaos: the media scenarios without media', () => {
  test.each(MEDIA_SCENARIOS.map((s) => s.id))('%s is refused before any cluster starts', async (id) => {
    const media = MEDIA_SCENARIOS.find((s) => s.id === id)!;
    await expect(runScenario(media, PROFILES.fast)).rejects.toThrow(/needs RunOptions.media/);
  });
});

describe('chaos: the frame gaps of a subscriber', () => {
  const log = new FrameLog();
  for (const at of [1_000, 1_040, 1_080, 1_700, 1_740, 1_780]) log.add(at);

  test('the longest stretch without a frame inside the window', () => {
    expect(log.longestGap(1_000, 1_780)).toBe(620);
    expect(log.longestGap(1_000, 1_080)).toBe(40);
  });

  test('a gap open at the end of the window counts up to it; frames before the window do not count', () => {
    expect(log.longestGap(1_700, 3_000)).toBe(1_220);
    expect(log.longestGap(1_090, 1_780)).toBe(610);
  });

  test('frames since a moment, and the last one', () => {
    expect(log.since(1_080)).toBe(3);
    expect(log.since(1_780)).toBe(0);
    expect(log.last()).toBe(1_780);
  });
});
