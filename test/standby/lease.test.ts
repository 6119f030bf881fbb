import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../local/ports';
import {
  REVOKED,
  ServeLease,
  grantLease,
  leaseReasons,
  parseLease,
  writeLease,
} from '../../runtime/standby/lease';

describe('serve lease (pure)', () => {
  const started = 1_000;
  test('a granted lease serves until it runs out', () => {
    const lease = grantLease(2_000, 3_000);
    expect(leaseReasons(lease, 4_999, started)).toEqual([]);
    expect(leaseReasons(lease, 5_000, started)).toEqual([
      'standby: the serve lease expired (its agent stopped renewing it)',
    ]);
  });

  test.each([
    ['no file', undefined, 'standby: no serve lease (this node is not the active one)'],
    ['a garbled file', '{"serving": tru', 'standby: no serve lease (this node is not the active one)'],
    [
      'a revoked lease',
      JSON.stringify(REVOKED),
      'standby: the serve lease was revoked (this node stepped down)',
    ],
    [
      'a lease issued before the runtime started',
      JSON.stringify(grantLease(started - 1, 60_000)),
      'standby: the serve lease predates this process',
    ],
  ])('%s: standby', (_, text, reason) => {
    expect(leaseReasons(parseLease(text), started + 1, started)).toEqual([reason]);
  });
});

describe('ServeLease (the runtime’s side)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rtc-lease-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('follows the file, and reports a revocation once (an expiry is no revocation)', async () => {
    const file = join(dir, 'serve.json');
    const revoked = jest.fn();
    const lease = new ServeLease(file, revoked, 10);
    try {
      expect(lease.reasons()).toEqual(['standby: no serve lease (this node is not the active one)']);
      writeLease(file, grantLease(Date.now() + 10, 60_000));
      await waitFor('the lease granted', () => lease.reasons().length === 0, 2_000, 10);

      writeLease(file, REVOKED);
      await waitFor('the lease revoked', () => revoked.mock.calls.length === 1, 2_000, 10);
      writeLease(file, REVOKED);
      await new Promise((r) => setTimeout(r, 50));
      expect(revoked).toHaveBeenCalledTimes(1);

      writeLease(file, grantLease(Date.now(), 30));
      await waitFor('the short lease expired', () => /expired/.test(lease.reasons().join()), 2_000, 10);
      writeFileSync(file, 'garbage');
      await new Promise((r) => setTimeout(r, 50));
      expect(revoked).toHaveBeenCalledTimes(1);
    } finally {
      lease.stop();
    }
  });
});
