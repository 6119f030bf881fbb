import { request } from 'node:http';
import type { RtcHaAdmin } from '../../runtime/client';
import type { StatusRow } from '../../local/status-table';
import { startWebPage, type WebPage } from '../../local/web/server';

const ROW: StatusRow = {
  nodeId: 'master-1',
  role: 'master',
  pid: '123',
  port: '4000',
  process: 'running',
  registry: 'active',
  lb: 'UP',
  sessions: '1',
  connections: '2',
  heartbeat: '0.4s',
};

describe("the local cluster's web page", () => {
  let page: WebPage;
  const signals: Array<[string, NodeJS.Signals]> = [];
  const admin = {
    createSession: jest.fn(async (sessionId: string) => ({ sessionId })),
    createConnection: jest.fn(async (sessionId: string, participantId: string) => ({
      token: `token-${sessionId}-${participantId}`,
    })),
  };

  beforeAll(async () => {
    page = await startWebPage({
      port: 0,
      signalingUrl: 'ws://127.0.0.1:8080/ws',
      admin: admin as unknown as RtcHaAdmin,
      media: true,
      status: async () => [ROW],
      signal: (nodeId, signal) => {
        signals.push([nodeId, signal]);
        return nodeId === 'master-1';
      },
    });
  });
  afterAll(() => page.stop());

  const post = (path: string, body: object = {}, type = 'application/json') =>
    fetch(new URL(path, page.url), {
      method: 'POST',
      headers: { 'content-type': type },
      body: JSON.stringify(body),
    });

  test('serves the page, its bundled script (the SDK inside) and the nodes as JSON', async () => {
    expect(await (await fetch(page.url)).text()).toContain('<table id="nodes">');
    expect(await (await fetch(new URL('/page.js', page.url))).text()).toContain('RtcHaSession');
    expect(await (await fetch(new URL('/api/status', page.url))).json()).toEqual({
      media: true,
      columns: expect.arrayContaining([['connections', 'CONNS']]),
      nodes: [ROW],
    });
  });

  test('a join gets a connection token from the masters, and the signaling URL', async () => {
    const res = await post('/api/join', { sessionId: 'demo', participantId: 'alice' });
    expect(await res.json()).toEqual({ url: 'ws://127.0.0.1:8080/ws', token: 'token-demo-alice' });
    expect(admin.createSession).toHaveBeenCalledWith('demo');
    expect((await post('/api/join', { sessionId: 'demo' })).status).toBe(400);
  });

  test("the buttons' actions signal the node; an unknown node or action is a 404", async () => {
    for (const action of ['kill', 'hang', 'resume', 'drain']) {
      expect((await post(`/api/nodes/master-1/${action}`)).status).toBe(200);
    }
    expect(signals.splice(0)).toEqual([
      ['master-1', 'SIGKILL'],
      ['master-1', 'SIGSTOP'],
      ['master-1', 'SIGCONT'],
      ['master-1', 'SIGTERM'],
    ]);
    expect((await post('/api/nodes/master-9/kill')).status).toBe(404);
    expect((await post('/api/nodes/master-1/explode')).status).toBe(404);
    expect(signals).toEqual([['master-9', 'SIGKILL']]);
  });

  test('another site cannot drive it: a form post or a foreign Host is refused', async () => {
    expect((await post('/api/nodes/master-1/kill', {}, 'application/x-www-form-urlencoded')).status).toBe(
      405,
    );
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        new URL('/api/status', page.url),
        { headers: { host: 'attacker.example:80' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.once('error', reject).end();
    });
    expect(status).toBe(403);
  });
});
