import { newStallWatch, stallOf } from '../../../runtime/client/media';
import { DEFAULT_TIMINGS } from '../../../runtime/contract/timings';

const STALL = DEFAULT_TIMINGS.mediaStallMs;

describe('the safety net decides per connection (stallOf)', () => {
  const live = (at: number) => ({ ...newStallWatch(), live: true, changedAt: at });

  test.each([
    [
      'bytes keep coming',
      [
        [100, 0, 'connected'],
        [200, STALL * 2, 'connected'],
      ],
      [undefined, undefined],
    ],
    [
      'no byte for mediaStallMs',
      [
        [100, 0, 'connected'],
        [100, STALL, 'connected'],
      ],
      [undefined, 'no_media'],
    ],
    [
      'just under mediaStallMs',
      [
        [100, 0, 'connected'],
        [100, STALL - 1, 'connected'],
      ],
      [undefined, undefined],
    ],
    ['disconnected, at once', [[100, 0, 'disconnected']], ['disconnected']],
    ['failed counts as disconnected', [[undefined, 0, 'failed']], ['disconnected']],
    [
      'not measured: only the state',
      [
        [undefined, 0, 'connected'],
        [undefined, STALL * 5, 'connected'],
      ],
      [undefined, undefined],
    ],
  ] as const)('%s', (_label, steps, expected) => {
    const watch = live(0);
    const reasons = steps.map(([bytes, at, state]) => stallOf(watch, bytes, state, at));
    expect(reasons).toEqual(expected);
  });

  test('a stall that lasts is reported again with a doubling back-off, reset once media flows', () => {
    const watch = live(0);
    stallOf(watch, 10, 'connected', 0);
    const reportedAt: number[] = [];
    for (let t = 0; t <= 40_000; t += 100) if (stallOf(watch, 10, 'connected', t)) reportedAt.push(t);
    expect(reportedAt).toEqual([STALL, 2 * STALL, 4 * STALL, 8 * STALL, 16 * STALL]);
    // media again: the next stall is reported after mediaStallMs, not after the back-off
    expect(stallOf(watch, 20, 'connected', 40_100)).toBeUndefined();
    expect(stallOf(watch, 20, 'connected', 40_100 + STALL)).toBe('no_media');
  });
});
