import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../local/ports';

const RUNNER = join(__dirname, '..', '..', 'scripts', 'netns-run.sh');

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

// A killed process may linger as a zombie until its new parent reaps it: that counts as ended.
function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return false;
  }
}

// These run inside the media run's own namespace: the runner nests, as a test of it must.
describe('scripts/netns-run.sh', () => {
  it('passes shellcheck', () => {
    const result = spawnSync('shellcheck', ['--severity=style', RUNNER], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('runs the command in a namespace of its own with a veth address, returns its status, removes it', () => {
    const result = spawnSync(
      'bash',
      [
        RUNNER,
        'sh',
        '-c',
        'ip -br addr; echo "ns=$RTC_TEST_NETNS ice=$RTC_TEST_ICE_ADDRESS tmp=$TMPDIR"; exit 7',
      ],
      { encoding: 'utf8' },
    );

    expect(result.status).toBe(7);
    expect(result.stdout).toMatch(/^lo +UNKNOWN +127\.0\.0\.1\/8/m);
    expect(result.stdout).toMatch(/^rtc0@rtc1 +UP +10\.77\.0\.1\/24/m);
    expect(result.stdout).toMatch(/^rtc1@rtc0 +UP +10\.77\.0\.2\/24/m);
    const [, ns, tmp] = /ns=(\S+) ice=10\.77\.0\.1 tmp=(\S+)$/m.exec(result.stdout) ?? [];
    expect(ns).toMatch(/^rtcha-test-/);
    expect(namespaces()).not.toContain(ns);
    expect(existsSync(tmp)).toBe(false);
  });

  it('on SIGTERM ends what still runs inside and removes the namespace', async () => {
    const runner = spawn('bash', [RUNNER, 'sh', '-c', 'sleep 300 & echo "$RTC_TEST_NETNS $!"; wait'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    runner.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
    await waitFor('the command to start', () => out.includes('\n'));
    const [ns, sleepPid] = out.trim().split(' ');

    runner.kill('SIGTERM');

    expect(await exited).toBe(143);
    expect(running(Number(sleepPid))).toBe(false);
    expect(namespaces()).not.toContain(ns);
  });

  it('fails, saying why, when it cannot create a namespace (not root)', () => {
    const result = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', RUNNER, 'true'],
      {
        encoding: 'utf8',
      },
    );

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/needs root/);
  });
});
