/**
 * Media benchmarks run inside a network namespace: Janus never gathers ICE candidates on loopback.
 * Outside one, the benchmark runs itself again through scripts/netns-run.sh (as root), which
 * creates the namespace with a veth pair and removes it afterwards whatever happens.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/** Returns when already inside a test namespace; otherwise runs `file` in one and exits with its status. */
export function runInTestNamespace(file: string): void {
  if (process.env.RTC_TEST_NETNS) return;
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const args = [join(ROOT, 'scripts', 'netns-run.sh'), tsx, file, ...process.argv.slice(2)];
  const run = spawnSync('bash', args, { stdio: 'inherit', cwd: ROOT });
  process.exit(run.status ?? 1);
}

/** The namespace's veth address, where Janus gathers its ICE candidates (scripts/netns-run.sh sets it). */
export function namespaceIceAddress(): string {
  return process.env.RTC_TEST_ICE_ADDRESS ?? '10.77.0.1';
}
