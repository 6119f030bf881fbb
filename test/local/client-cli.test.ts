import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RtcHaAdmin } from '../../runtime/client';
import { RtcHaNodeSession } from '../../runtime/client/node';
import { Cluster, startCluster } from '../../local/cluster';
import { waitFor } from '../../local/ports';

const ROOT = join(__dirname, '..', '..');

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ masters: 1, media: 1, port: 0, statsPort: 0 });
});
afterAll(async () => {
  await cluster?.stop();
});

test('npm run client joins through HAProxy, prints events and messages, sends typed lines, leaves on end of input', async () => {
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'tsx'),
    ['local/client-cli.ts', '--url', cluster.haproxy.url, '--session', 'cli', '--participant', 'alice'],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor('alice joined', () => out.includes('joined cli as alice'), 20_000, 50);

    const admin = new RtcHaAdmin({ baseUrl: cluster.haproxy.url, secret: cluster.apiSecret });
    const { token } = await admin.createConnection('cli', 'bob');
    const bob = new RtcHaNodeSession({ url: cluster.urls.signaling, token });
    const fromAlice = new Promise((resolve) => bob.on('message', (m) => resolve(`${m.from}: ${m.data}`)));
    await bob.connect();
    await waitFor('alice sees bob', () => out.includes('bob joined'), 5_000, 50);
    bob.sendMessage('hi alice');
    await waitFor('alice prints the message', () => /<bob> hi alice {3}\(seq \d+\)/.test(out), 5_000, 50);

    child.stdin.write('hello bob\n');
    expect(await fromAlice).toBe('alice: hello bob');
    child.stdin.end();
    expect(await exited).toBe(0);
    bob.close();
  } finally {
    child.kill('SIGKILL');
  }
});
