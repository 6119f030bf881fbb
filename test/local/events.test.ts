import type { ClusterEvent } from '../../local/cluster';
import { EventFilter, describeClusterEvent } from '../../local/events';
import type { FleetMember } from '../../local/fleet';

const member = {
  nodeId: 'master-4',
  instanceId: 'local-master-4',
  role: 'master',
  port: 4004,
  pid: 44,
  launchedAt: 1_000,
  readyAt: 1_450,
} as FleetMember;

function decision(cycle: number, line: Record<string, unknown>): ClusterEvent {
  return { type: 'watchdog', at: 0, line: { msg: 'watchdog decision', cycle, ...line } };
}

const expired = (ms: number) => ({ kind: 'heartbeat-expired', detail: `last heartbeat ${ms} ms ago` });
const node = { role: 'master', instanceId: 'local-master-2', nodeId: 'master-2' };

describe('describeClusterEvent', () => {
  test('fleet events name the node, its pid and what happened', () => {
    expect(describeClusterEvent({ type: 'launched', member, replaces: 'master-2' })).toBe(
      'master-4 ready (pid 44, port 4004, 450 ms to start, replacing master-2)',
    );
    expect(describeClusterEvent({ type: 'terminating', member, reason: 'flagged by the watchdog' })).toBe(
      'terminating master-4 (pid 44): flagged by the watchdog',
    );
    expect(describeClusterEvent({ type: 'launch-failed', role: 'media', attempt: 2, error: 'boom' })).toBe(
      'a media failed to start (attempt 2): boom',
    );
  });

  test('watchdog flags list their signals; a flag that could not be applied says so; ignores are silent', () => {
    const signals = [expired(3100), { kind: 'live-failed', detail: 'ECONNREFUSED' }];
    expect(describeClusterEvent(decision(1, { action: 'flag', node, signals, applied: true }))).toBe(
      'watchdog FLAG master-2: heartbeat-expired (last heartbeat 3100 ms ago), live-failed (ECONNREFUSED)',
    );
    expect(
      describeClusterEvent(decision(1, { action: 'flag', node, signals, applied: false, error: 'x' })),
    ).toMatch(/ -- NOT applied: x$/);
    expect(
      describeClusterEvent(decision(1, { action: 'hold', rail: 'majority', detail: '1 of 3', node })),
    ).toBe('watchdog HOLD (majority, master-2): 1 of 3');
    expect(
      describeClusterEvent(decision(1, { action: 'ignore', node, reason: 'grace-period' })),
    ).toBeUndefined();
    expect(
      describeClusterEvent({
        type: 'watchdog',
        at: 0,
        line: { msg: 'watchdog cycle failed', error: 'boom' },
      }),
    ).toBe('watchdog: cycle failed: boom');
  });
});

describe('EventFilter', () => {
  test('a condition that lasts prints once, again when it comes back; flags always print', () => {
    const filter = new EventFilter();
    const suspect = (cycle: number, ms: number) =>
      filter.accept(decision(cycle, { action: 'suspect', node, signals: [expired(ms)] }));
    const hold = (cycle: number) =>
      filter.accept(
        decision(cycle, { action: 'hold', rail: 'registry-unreachable', detail: 'ECONNREFUSED' }),
      );
    expect(suspect(1, 900)).toMatch(/suspects master-2/);
    expect(suspect(2, 1900)).toBeUndefined(); // same condition, new age
    expect(hold(3)).toMatch(/HOLD/);
    expect(hold(4)).toBeUndefined();
    expect(suspect(5, 900)).toMatch(/suspects master-2/); // it came back after a cycle without it
    const flag = () => filter.accept(decision(6, { action: 'flag', node, signals: [expired(3000)] }));
    expect(flag()).toMatch(/FLAG/);
    expect(flag()).toMatch(/FLAG/);
    expect(filter.accept({ type: 'exited', member })).toMatch(/master-4 \(pid 44\) exited/);
  });
});
