/**
 * The CI profile of the chaos suite (the full suite: npm run chaos). Each scenario runs on a
 * fresh local cluster with short timings (heartbeat 250 ms, TTL 750 ms, watchdog cycle 500 ms):
 * clients exchange numbered messages through HAProxy while a node is crashed, hung or drained.
 */
import { PROFILES, ScenarioResult, runScenario } from '../../local/chaos/run';
import { SCENARIOS } from '../../local/chaos/scenarios';

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
