import { existsSync, statSync } from 'node:fs';
import { ClusterMedia, RtpRanges, defaultIceAddress } from '../../local/media';

const nic = (address: string, internal: boolean, family: 'IPv4' | 'IPv6' = 'IPv4') =>
  ({ address, internal, family, netmask: '', mac: '', cidr: null }) as never;

describe('defaultIceAddress', () => {
  test('the first non-internal IPv4, never loopback or IPv6', () => {
    expect(
      defaultIceAddress({
        lo: [nic('127.0.0.1', true)],
        eth0: [nic('fe80::1', false, 'IPv6'), nic('192.0.2.7', false)],
        eth1: [nic('198.51.100.3', false)],
      }),
    ).toBe('192.0.2.7');
  });

  test('none on a machine with loopback only', () => {
    expect(defaultIceAddress({ lo: [nic('127.0.0.1', true)] })).toBeUndefined();
  });
});

describe('RtpRanges', () => {
  test('disjoint ranges, a released one is taken again, and a clear error when none is left', () => {
    const ranges = new RtpRanges(40_000, 1_000, 2);
    const first = ranges.take();
    expect(first).toEqual({ min: 40_000, max: 40_999 });
    expect(ranges.take()).toEqual({ min: 41_000, max: 41_999 });
    expect(() => ranges.take()).toThrow('no free RTP port range: 2 media agents run already');
    ranges.release(first);
    expect(ranges.take()).toEqual(first);
  });
});

describe('ClusterMedia', () => {
  test("an agent's settings: the ICE address, its own RTP range and a TMPDIR nobody can enter; removed on release", () => {
    const media = new ClusterMedia('192.0.2.7');
    try {
      const one = media.forAgent('media-1');
      const two = media.forAgent('media-2');
      expect(one.env).toMatchObject({
        RTC_MEDIA_ICE_ADDRESS: '192.0.2.7',
        RTC_PUBLIC_ADDRESS: '192.0.2.7',
        RTC_MEDIA_PORT_MIN: '40000',
        RTC_MEDIA_PORT_MAX: '40999',
      });
      expect(two.env.RTC_MEDIA_PORT_MIN).toBe('41000');
      for (const dir of [media.dir, one.env.TMPDIR]) expect(statSync(dir).mode & 0o777).toBe(0o711);
      one.release();
      expect(existsSync(one.env.TMPDIR)).toBe(false);
      expect(media.forAgent('media-3').env.RTC_MEDIA_PORT_MIN).toBe('40000');
    } finally {
      media.remove();
    }
    expect(existsSync(media.dir)).toBe(false);
  });
});
