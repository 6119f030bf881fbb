import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { RtcHaAdmin } from '../../runtime/client';
import { createRedis, untilReady } from '../../runtime/contract';
import { ClusterStartError, startCluster } from '../../local/cluster';
import { waitFor } from '../../local/ports';
import { RedisServer, startRedisServer } from '../../local/redis-server';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** `npm run cluster` without npm: its output, its exit, and a way to stop it. */
function runCli(args: string[]) {
  const child: ChildProcess = spawn(TSX, ['local/cluster-cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster', () => {
  let cli: ReturnType<typeof runCli> | undefined;
  afterEach(async () => {
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
    cli = undefined;
  });

  test('prints the URLs and the nodes as plain lines, serves REST through HAProxy, and SIGTERM stops and removes everything', async () => {
    cli = runCli([
      '--masters',
      '2',
      '--media',
      '1',
      '--port',
      '0',
      '--stats-port',
      '0',
      '--web-port',
      '0',
      '--refresh-ms',
      '200',
    ]);
    const c = cli;
    await waitFor(
      'the status table',
      () => /HEARTBEAT[\s\S]*master-2[\s\S]*media-1/.test(c.out()),
      30_000,
      100,
    );
    const out = c.out();
    expect(out).not.toContain('\x1b'); // not a terminal: no redraw
    const rest = /REST\s+(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out)![1];
    expect(out).toMatch(/signaling\s+ws:\/\/127\.0\.0\.1:\d+\/ws/);
    const stats = /HAProxy\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1];
    const web = /web page\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1];
    // Janus runs when this machine has an address for it and janus is installed; else the header says why not.
    expect(out).toMatch(/media\s+(Janus beside each media agent, ICE on \S+|OFF: .+)/);
    const logDir = /logs\s+(\S+)/.exec(out)![1];
    const pids = [...out.matchAll(/^\s+(?:master|media)-\d+\s+\w+\s+(\d+)/gm)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);

    const admin = new RtcHaAdmin({ baseUrl: rest, secret: 'rtc-ha-local-cluster-secret' });
    const session = await admin.createSession('cli-test');
    expect(session.mediaNode?.nodeId).toBe('media-1');
    expect((await fetch(stats)).status).toBe(200);
    const { nodes } = (await (await fetch(`${web}api/status`)).json()) as {
      nodes: Array<{ nodeId: string }>;
    };
    expect(nodes.map((n) => n.nodeId)).toEqual(['master-1', 'master-2', 'media-1']);

    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.err()).toMatch(/SIGTERM: stopping every process[\s\S]*removed the run folder/);
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(logDir)).toBe(false);
  });

  test('a port in use: a clear message naming the flag, exit status 2, nothing left running', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      cli = runCli(['--port', String(port), '--stats-port', '0']);
      expect(await cli.exited).toBe(2);
      expect(cli.err()).toContain(`cluster: port ${port} (HAProxy's frontend) is in use`);
      expect(cli.err()).toContain('--port');
    } finally {
      blocker.close();
    }
  });

  test('a bad flag value is refused before anything starts', async () => {
    cli = runCli(['--masters', 'three']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toContain('--masters needs an integer >= 1, got "three"');
  });
});

describe('startCluster', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  test('with a Redis URL: keys under a prefix of its own, removed on stop', async () => {
    const check = await untilReady(createRedis({ url: redis.url }));
    try {
      await check.set('someone-else', 'stays');
      const cluster = await startCluster({
        masters: 1,
        media: 1,
        redisUrl: redis.url,
        port: 0,
        statsPort: 0,
      });
      expect(cluster.redisServer).toBeUndefined();
      expect(cluster.keyPrefix).toMatch(/^rtc-local-[0-9a-f]{8}$/);
      expect((await cluster.status()).map((r) => `${r.nodeId}:${r.registry}`)).toEqual([
        'master-1:active',
        'media-1:active',
      ]);
      expect(await check.keys(`${cluster.keyPrefix}:*`)).not.toHaveLength(0);
      await cluster.stop();
      await cluster.stop(); // twice is fine
      expect(await check.keys(`${cluster.keyPrefix}:*`)).toEqual([]);
      expect(await check.get('someone-else')).toBe('stays');
      expect(existsSync(cluster.runDir)).toBe(false);
    } finally {
      check.disconnect();
    }
  });

  test('a node that fails to start: the reason, everything stopped, the logs kept', async () => {
    const error = await startCluster({
      masters: 1,
      media: 1,
      port: 0,
      statsPort: 0,
      redisUrl: redis.url,
      launch: async (spec) => {
        writeFileSync(spec.logFile, 'start_failed\n');
        throw new Error(`${spec.nodeId} exited (exit code 2) before /ready`);
      },
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ClusterStartError);
    expect((error as Error).message).toMatch(/(master|media)-\d exited \(exit code 2\) before \/ready/);
    const logDir = /logs kept in (\S+)\)/.exec((error as Error).message)![1];
    expect(readdirSync(logDir)).toEqual(
      expect.arrayContaining(['haproxy.log', 'master-1.log', 'media-1.log']),
    );
    rmSync(join(logDir, '..'), { recursive: true, force: true });
  });

  test('a missing binary names the package to install', async () => {
    await expect(
      startCluster({ haproxyBinary: 'haproxy-not-installed', port: 0, statsPort: 0 }),
    ).rejects.toThrow(/^haproxy-not-installed not found: install it \(Debian: apt-get install -y haproxy\)$/);
  });
});
