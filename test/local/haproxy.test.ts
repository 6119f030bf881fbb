import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { AddressInfo, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { DEFAULT_TIMINGS } from '../../runtime/contract';
import { Haproxy, checkHaproxyConfig, haproxyConfig, startHaproxy } from '../../local/haproxy';
import { freePort, waitFor } from '../../local/ports';

/** A stand-in master: answers /ready (toggled by the test), echoes WebSocket frames. */
interface FakeNode {
  readonly port: number;
  ready: boolean;
  close(): Promise<void>;
}

async function fakeNode(name: string): Promise<FakeNode> {
  const node = { ready: true } as FakeNode;
  const server: Server = createServer((req, res) => {
    if (req.url === '/ready') res.statusCode = node.ready ? 200 : 503;
    res.end(name);
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${name}:${data}`)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(node, {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

const dir = mkdtempSync(join(tmpdir(), 'rtc-haproxy-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settings(name: string) {
  return {
    port: await freePort(),
    statsPort: await freePort(),
    socketPath: join(dir, `${name}.sock`),
    slots: 4,
    dir,
    logFile: join(dir, `${name}.log`),
  };
}

describe('haproxyConfig', () => {
  test('GIVEN the defaults THEN checks /ready like the ALB, with a long tunnel timeout and retries', async () => {
    const config = haproxyConfig(await settings('defaults'));
    const { path, interMs, fall, rise } = DEFAULT_TIMINGS.localCheck;
    expect(config).toContain(`option httpchk GET ${path}`);
    expect(config).toContain(`default-server inter ${interMs} fall ${fall} rise ${rise}`);
    expect(config).toContain(`timeout tunnel ${DEFAULT_TIMINGS.albIdleTimeoutSeconds}s`);
    expect(config).toMatch(/option redispatch/);
    expect(config).toMatch(/retries \d/);
    expect(config).toMatch(/stats uri \//);
    expect(config).toContain('server-template slot 1-4 ');
    // loopback only
    for (const bind of config.match(/bind \S+/g) ?? []) expect(bind).toMatch(/^bind 127\.0\.0\.1:\d+$/);
  });

  test('haproxy -c accepts the generated config', async () => {
    const file = join(dir, 'check.cfg');
    writeFileSync(file, haproxyConfig(await settings('check')));
    const result = checkHaproxyConfig('haproxy', file);
    expect(result.output).toMatch(/valid/i);
    expect(result.ok).toBe(true);
  });
});

describe('startHaproxy', () => {
  let haproxy: Haproxy | undefined;
  const nodes: FakeNode[] = [];
  afterEach(async () => {
    await haproxy?.stop();
    haproxy = undefined;
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  test('routes to the slots it is given, stops routing to a node that turns not ready, frees slots', async () => {
    haproxy = await startHaproxy(await settings('routing'));
    const a = await fakeNode('a');
    const b = await fakeNode('b');
    nodes.push(a, b);

    expect(await get(haproxy.url)).toEqual({ status: 503, body: expect.any(String) }); // no server yet
    expect(await haproxy.addServer('node-a', a.port)).toBe('slot1');
    expect(await haproxy.addServer('node-b', b.port)).toBe('slot2');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i += 1) seen.add((await get(haproxy.url)).body);
    expect(seen).toEqual(new Set(['a', 'b']));

    a.ready = false; // fall 2 at inter 1 s: out of rotation within about 3 s
    await waitFor('node-a marked down', async () => (await haproxy!.slots())[0].status === 'DOWN', 6_000);
    for (let i = 0; i < 4; i += 1) expect((await get(haproxy.url)).body).toBe('b');

    await haproxy.removeServer('node-a');
    const slots = await haproxy.slots();
    expect(slots[0]).toMatchObject({ slot: 'slot1', status: 'MAINT', key: undefined });
    expect(slots[1]).toMatchObject({ slot: 'slot2', key: 'node-b' });
    expect(await haproxy.addServer('node-c', a.port)).toBe('slot1'); // the freed slot is reused

    const stats = await get(haproxy.statsUrl);
    expect(stats.status).toBe(200);
    expect(stats.body).toContain('slot2');
  });

  test('a refused connection is retried on another server (redispatch)', async () => {
    haproxy = await startHaproxy(await settings('redispatch'));
    const b = await fakeNode('b');
    nodes.push(b);
    await haproxy.addServer('dead', await freePort()); // nothing listens there
    await haproxy.addServer('node-b', b.port);
    for (let i = 0; i < 4; i += 1) expect(await get(haproxy.url)).toEqual({ status: 200, body: 'b' });
  });

  test('WebSockets pass through; draining keeps them, removing closes them', async () => {
    haproxy = await startHaproxy(await settings('ws'));
    const a = await fakeNode('a');
    const b = await fakeNode('b');
    nodes.push(a, b);
    await haproxy.addServer('node-a', a.port);
    const ws = new WebSocket(haproxy.wsUrl);
    const closed = new Promise((resolve) => ws.once('close', resolve));
    const echo = (text: string) => {
      const reply = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
      ws.send(text);
      return reply;
    };
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(await echo('hi')).toBe('a:hi');
    expect((await haproxy.slots())[0].connections).toBe(1);

    await haproxy.addServer('node-b', b.port);
    await haproxy.drainServer('node-a'); // like ALB deregistration: no new connections, open ones stay
    for (let i = 0; i < 4; i += 1) expect((await get(haproxy.url)).body).toBe('b');
    expect(await echo('still')).toBe('a:still');

    await haproxy.removeServer('node-a');
    await closed;
  });

  test('a port in use fails with a clear message naming the port', async () => {
    const blocker = createTcpServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(startHaproxy({ ...(await settings('busy')), port })).rejects.toThrow(
        new RegExp(`haproxy exited at start[\\s\\S]*${port}`),
      );
    } finally {
      blocker.close();
    }
  });

  test('a missing binary fails with the package to install', async () => {
    await expect(
      startHaproxy({ ...(await settings('missing')), binary: 'haproxy-not-here' }),
    ).rejects.toThrow(/haproxy-not-here not found: install it \(Debian: apt-get install -y haproxy\)/);
  });
});
