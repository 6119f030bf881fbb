import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { freePort } from '../../../local/ports';
import {
  fullJitterDelay,
  RtcHaAdmin,
  RtcHaAdminOptions,
  RtcHaApiError,
  RtcHaRetryError,
} from '../../../runtime/client';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
  at: number;
}
type Reply = { status: number; body?: unknown } | 'hang';

/** A real HTTP server that answers the scripted replies in turn (the last one repeats). */
async function restServer(replies: Reply[]): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body,
        at: Date.now(),
      });
      const reply = replies[Math.min(seen.length - 1, replies.length - 1)];
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const FAST_RETRY: RtcHaAdminOptions['retry'] = {
  maxAttempts: 5,
  baseDelayMs: 20,
  maxDelayMs: 80,
  maxTotalMs: 5_000,
};
const connection = { sessionId: 's1', participantId: 'p1', token: 'v1.x.y', expiresAt: 1 };

function admin(baseUrl: string | string[], options: Partial<RtcHaAdminOptions> = {}): RtcHaAdmin {
  return new RtcHaAdmin({ baseUrl, secret: 's3cret', retry: FAST_RETRY, ...options });
}

describe('RtcHaAdmin', () => {
  test('retries 502, 503 and 504 with backoff, then returns the reply', async () => {
    // GIVEN
    const { url, seen } = await restServer([
      { status: 502 },
      { status: 503 },
      { status: 504 },
      { status: 201, body: connection },
    ]);

    // WHEN
    const started = Date.now();
    const result = await admin(url, { random: () => 1 }).createConnection('s1', 'p1', { role: 'agent' });

    // THEN
    expect(result).toEqual(connection);
    expect(seen).toHaveLength(4);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/sessions/s1/connections',
      authorization: `Basic ${Buffer.from('rtc-ha:s3cret').toString('base64')}`,
    });
    expect(JSON.parse(seen[3].body)).toEqual({ participantId: 'p1', metadata: { role: 'agent' } });
    // random 1: waits of 20, 40, 80 ms (full caps) between the attempts
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test('gives up after maxAttempts with a clear RtcHaRetryError carrying the last answer', async () => {
    const { url, seen } = await restServer([
      { status: 503, body: { error: { code: 'not_ready', message: 'registry unreachable' } } },
    ]);

    const error = await admin(url)
      .createSession('s1')
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RtcHaRetryError);
    const retryError = error as RtcHaRetryError;
    expect(retryError.attempts).toBe(5);
    expect(retryError.message).toMatch(
      /POST \/v1\/sessions failed after 5 attempt\(s\) in \d+ ms: .*503 not_ready: registry unreachable/,
    );
    expect(retryError.lastError).toBeInstanceOf(RtcHaApiError);
    expect((retryError.lastError as RtcHaApiError).status).toBe(503);
    expect(seen).toHaveLength(5);
  });

  test('a retry option given as undefined keeps its default (6 attempts)', async () => {
    const { url, seen } = await restServer([{ status: 504 }]);
    const client = admin(url, { retry: { maxAttempts: undefined, baseDelayMs: 1, maxDelayMs: 1 } });
    await expect(client.getSession('s1')).rejects.toMatchObject({ attempts: 6 });
    expect(seen).toHaveLength(6);
  });

  test('stops retrying when maxTotalMs would pass', async () => {
    const { url, seen } = await restServer([{ status: 503 }]);
    const started = Date.now();
    const error = await admin(url, {
      random: () => 1,
      retry: { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 50, maxTotalMs: 220 },
    })
      .getSession('s1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RtcHaRetryError);
    expect(Date.now() - started).toBeLessThan(400);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThanOrEqual(5);
  });

  test('a 4xx is not retried: RtcHaApiError with status, code, message, details', async () => {
    const { url, seen } = await restServer([
      {
        status: 400,
        body: {
          error: { code: 'bad_request', message: 'invalid body', details: ['sessionId: ids are 1-128'] },
        },
      },
    ]);
    const error = await admin(url)
      .createSession('bad id!')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RtcHaApiError);
    expect(error).toMatchObject({ status: 400, code: 'bad_request', details: ['sessionId: ids are 1-128'] });
    expect((error as Error).message).toMatch(/400 bad_request: invalid body/);
    expect(seen).toHaveLength(1);
  });

  test('a 404 on a retried DELETE counts as done; on the first try it is an error', async () => {
    const retried = await restServer([{ status: 502 }, { status: 404 }]);
    await expect(admin(retried.url).deleteSession('s1')).resolves.toBeUndefined();
    expect(retried.seen.map((s) => s.method)).toEqual(['DELETE', 'DELETE']);

    const first = await restServer([
      { status: 404, body: { error: { code: 'not_found', message: 'no session' } } },
    ]);
    await expect(admin(first.url).deleteConnection('s1', 'p1')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect(first.seen[0].url).toBe('/v1/sessions/s1/connections/p1');
  });

  test('network errors and timeouts are retried on the next base URL, which is then kept', async () => {
    // GIVEN a refused URL, a hanging one and a working one
    const refused = `http://127.0.0.1:${await freePort()}`;
    const hanging = await restServer(['hang']);
    const working = await restServer([{ status: 200, body: { sessionId: 's1' } }]);
    const client = admin([refused, hanging.url, working.url], { requestTimeoutMs: 200 });

    // WHEN
    await client.getSession('s1');
    await client.getSession('s1');

    // THEN
    expect(hanging.seen).toHaveLength(1);
    expect(working.seen).toHaveLength(2);
  });
});

describe('fullJitterDelay', () => {
  test('is uniform below a cap that doubles per attempt up to maxMs', () => {
    const options = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => fullJitterDelay(a, options, () => 0.999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(fullJitterDelay(3, options, () => 0)).toBe(0);
  });
});
