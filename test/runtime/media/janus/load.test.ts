import type { HandleInfo } from '../../../../runtime/media/janus';
import { summarizeHandles } from '../../../../runtime/media/janus/load';
import { cpuTicks, openFilesLimit } from '../../../../runtime/media/janus/procfs';

/** A handle as Janus 1.1's handle_info shows it, with one audio and one video m-line. */
function handle(
  type: 'publisher' | 'subscriber' | 'none',
  traffic: { inBps?: number; outBps?: number; packets?: number; lost?: number; streams?: number } = {},
): HandleInfo {
  const bytes = (bps = 0) => bps / 8 / 2; // split over the two m-lines
  const medium = {
    rtcp: { main: { lost: (traffic.lost ?? 0) / 2, 'lost-by-remote': 0 } },
    stats: {
      in: { packets: (traffic.packets ?? 0) / 2, bytes_lastsec: bytes(traffic.inBps) },
      out: { packets: 0, bytes_lastsec: bytes(traffic.outBps) },
    },
  };
  return {
    plugin: 'janus.plugin.videoroom',
    plugin_specific: { type, room: 'r', streams: Array.from({ length: traffic.streams ?? 2 }, () => ({})) },
    webrtc: { media: { '0': { type: 'audio', ...medium }, '1': { type: 'video', ...medium } } },
  };
}

test.each<[string, HandleInfo[], ReturnType<typeof summarizeHandles>]>([
  ['nothing', [], { publishers: 0, subscribers: 0, bitrateIn: 0, bitrateOut: 0 }],
  [
    'a publisher not publishing yet, a room manager',
    [handle('publisher', { streams: 0 }), { plugin: 'janus.plugin.videoroom' }],
    { publishers: 0, subscribers: 0, bitrateIn: 0, bitrateOut: 0 },
  ],
  [
    'one publisher, two subscribers',
    [
      handle('publisher', { inBps: 800_000, packets: 990, lost: 10 }),
      handle('subscriber', { outBps: 800_000, packets: 0 }),
      handle('subscriber', { outBps: 800_000, packets: 0 }),
      handle('none'),
    ],
    { publishers: 1, subscribers: 2, bitrateIn: 800_000, bitrateOut: 1_600_000, packetLoss: 0.01 },
  ],
])('%s', (_what, handles, load) => {
  expect(summarizeHandles(handles)).toEqual(load);
});

test('simulcast layers count towards the incoming bitrate, lost-by-remote towards the loss', () => {
  const simulcast: HandleInfo = {
    plugin_specific: { type: 'publisher', streams: [{}] },
    webrtc: {
      media: {
        '0': {
          rtcp: { main: { lost: 0, 'lost-by-remote': 5 } },
          stats: {
            in: {
              packets: 90,
              bytes_lastsec: 1_000,
              'video-simulcast-1': { packets: 5, bytes_lastsec: 2_000 },
              'video-simulcast-2': { packets: 0, bytes_lastsec: 4_000 },
            },
          },
        },
      },
    },
  };
  expect(summarizeHandles([simulcast])).toMatchObject({ bitrateIn: 56_000, packetLoss: 0.05 });
});

test('cpuTicks: utime plus stime, whatever the command name holds', () => {
  const stat = '4242 (ja nus) (x)) S 1 4242 4242 0 -1 4194560 2519 0 0 0 123 45 0 0 20 0 9 0 100 0 0';
  expect(cpuTicks(stat)).toBe(168);
});

test.each([
  ['Max open files            65536                524288               files     ', 65_536],
  ['Max open files            unlimited            unlimited            files     ', Infinity],
])('openFilesLimit reads the soft limit', (line, limit) => {
  expect(
    openFilesLimit(
      `Limit                     Soft Limit           Hard Limit           Units     \n${line}\n`,
    ),
  ).toBe(limit);
});
