import { readFileSync } from 'node:fs';
import { LIMITS } from '../../../runtime/contract';
import { NodeProcess, startNodeProcess } from '../../../local/node-process';
import { waitFor } from '../../../local/ports';
import { API_SECRET, TestRegistry, startRegistry } from './support/harness';
import { RawSocket } from './support/raw-socket';

/**
 * Issue 10 item 4, reproduced: 1,500 sockets that never authenticate took a master from 89 to
 * 803 MB, each buffering a 1 MB frame. Now a socket takes LIMITS.maxFrameBytesBeforeJoin until it
 * joins: a larger frame closes it at its header, and one that trickles a smaller frame holds at
 * most that much (plus the read buffer holding it). The bound: the master's RSS grows by less
 * than 128 KiB per socket, under 192 MB for the 1,500 (about 105 MB measured; 714 MB before).
 */
const SOCKETS = 1_500;
const BOUND_KIB_PER_SOCKET = 128;

let registry: TestRegistry;
let master: NodeProcess;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  master = await startNodeProcess({
    kind: 'master',
    env: { RTC_REDIS_URL: registry.server.url, RTC_API_SECRET: API_SECRET },
  });
});
afterAll(async () => {
  sockets.forEach((s) => s.destroy());
  await master?.stop(2_000);
  await registry?.stop();
});

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

test(`${SOCKETS} unauthenticated sockets keep the master within ${BOUND_KIB_PER_SOCKET} KiB each`, async () => {
  const before = rssKiB(master.pid);
  // One payload buffer for every write: the attack costs this process little.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const partial = Buffer.alloc(LIMITS.maxFrameBytesBeforeJoin - 1, 0x61);
  for (let i = 0; i < SOCKETS; i++) {
    const s = await RawSocket.open(master.url);
    sockets.push(s);
    if (i % 2 === 0) {
      // A 1 MiB frame, as in the report.
      s.write(RawSocket.header(16 * chunk.length));
      for (let c = 0; c < 16; c++) s.write(chunk);
    } else {
      // Stays just under the limit: the header of a 4 KiB frame and all but its last byte.
      s.write(RawSocket.header(LIMITS.maxFrameBytesBeforeJoin));
      s.write(partial);
    }
  }
  await new Promise((r) => setTimeout(r, 1_000)); // everything sent has arrived
  const peak = rssKiB(master.pid);
  const large = sockets.filter((_, i) => i % 2 === 0);
  await waitFor('the 1 MiB frames refused', () => large.every((s) => s.closedAt !== undefined), 10_000);
  expect(peak - before).toBeLessThan(SOCKETS * BOUND_KIB_PER_SOCKET);
  expect(master.hasExited()).toBe(false);
  // The master still serves while the partial frames hang.
  await waitFor('ready', async () => (await fetch(`${master.url}/ready`)).status === 200, 5_000);
}, 120_000);
