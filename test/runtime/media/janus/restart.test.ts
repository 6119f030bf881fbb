import { DEFAULT_RESTART_POLICY as POLICY } from '../../../../runtime/media/janus';
import { crashesInARow, restartDelayMs } from '../../../../runtime/media/janus/restart';

test.each([
  [1, 250],
  [2, 500],
  [3, 1_000],
  [7, 16_000],
  [8, 30_000],
  [20, 30_000],
])('crash %i in a row: restart after %i ms', (crashes, delay) => {
  expect(restartDelayMs(POLICY, crashes)).toBe(delay);
});

test.each([
  ['a first crash', 0, 5_000, 1],
  ['a crash soon after a restart', 3, 5_000, 4],
  ['a crash after a stable run starts a new series', 5, 60_000, 1],
])('%s', (_what, previous, ranForMs, crashes) => {
  expect(crashesInARow(POLICY, previous, ranForMs)).toBe(crashes);
});
