// A master given a certificate (RTC_TLS_PEM) serves TLS itself: REST, /ready and wss:// on its one
// port, and nothing in clear (the active-standby pair has no load balancer to end TLS).
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import { startNodeProcess } from '../../../local/node-process';
import { RtcHaNodeSession } from '../../../runtime/client/node';
import { MasterConfig, masterConfigFromEnv } from '../../../runtime/master/config';
import type { MasterHandle } from '../../../runtime/master/master';
import { privateKey, selfSignedCertificate } from '../../support/certificate';
import { API_SECRET, FakeMediaNode, TestRegistry, startRegistry, startTestMaster } from './support/harness';

/** A throwaway self-signed certificate for 127.0.0.1, its key, and an unrelated key. */
interface Pems {
  readonly certificate: string;
  readonly key: string;
  readonly otherKey: string;
}

function generatePems(): Pems {
  const { certificate, key } = selfSignedCertificate('localhost', ['IP:127.0.0.1', 'DNS:localhost']);
  return { certificate, key, otherKey: privateKey() };
}

const minimalEnv = { RTC_REDIS_URL: 'redis://127.0.0.1:6379', RTC_API_SECRET: API_SECRET };

/** The master's TLS settings as RTC_TLS_PEM gives them. */
function tlsFromEnv(pem: string): MasterConfig['tls'] {
  const result = masterConfigFromEnv({ ...minimalEnv, RTC_TLS_PEM: pem });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return result.config.tls;
}

interface Reply {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** One HTTPS call trusting only `ca`, no keep-alive. */
function https(url: string, ca: string, method = 'GET', body?: unknown): Promise<Reply> {
  const auth = `Basic ${Buffer.from(`rtc-ha:${API_SECRET}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, agent: false, headers: { authorization: auth } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let pems: Pems;
let registry: TestRegistry;
let media: FakeMediaNode;
let master: MasterHandle;
const sessions: RtcHaNodeSession[] = [];

beforeAll(async () => {
  pems = generatePems();
  registry = await startRegistry();
  media = await new FakeMediaNode(registry.redis, 'media-a').start();
  master = await startTestMaster(registry.server.url, { tls: tlsFromEnv(pems.certificate + pems.key) });
});

afterAll(async () => {
  for (const s of sessions) s.close();
  media?.stop();
  await master?.close();
  await registry?.stop();
});

describe('a master with RTC_TLS_PEM', () => {
  test('answers GET /ready over https to a client that trusts its certificate', async () => {
    expect(master.url).toBe(`https://127.0.0.1:${master.port}`);
    const reply = await https(`${master.url}/ready`, pems.certificate);
    expect(reply).toEqual({ status: 200, body: { status: 'ready', nodeId: master.nodeId } });
  });

  test('a client joins a session over wss://', async () => {
    // GIVEN a session and a connection token, over https
    const created = await https(`${master.url}/v1/sessions`, pems.certificate, 'POST', {
      sessionId: 'tls-room',
    });
    expect(created.status).toBe(201);
    const connection = await https(
      `${master.url}/v1/sessions/tls-room/connections`,
      pems.certificate,
      'POST',
      {
        participantId: 'alice',
      },
    );
    expect(connection.status).toBe(201);

    // WHEN the SDK connects to wss://, trusting the certificate
    const ca = pems.certificate;
    class TrustingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url, { ca, perMessageDeflate: false });
      }
    }
    const session = new RtcHaNodeSession({
      url: `wss://127.0.0.1:${master.port}/ws`,
      token: connection.body.token as string,
      WebSocket: TrustingWebSocket,
    });
    sessions.push(session);
    const joined = await session.connect();

    // THEN it joined
    expect(joined).toMatchObject({ type: 'joined', sessionId: 'tls-room', participantId: 'alice' });
  });

  test('plain http to its port gets no answer', async () => {
    const plain = new Promise((resolve, reject) => {
      const req = httpGet(`http://127.0.0.1:${master.port}/ready`, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
    });
    await expect(plain).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});

describe('a bad RTC_TLS_PEM', () => {
  test.each<[string, () => string, RegExp]>([
    ['a certificate without its key', () => pems.certificate, /^RTC_TLS_PEM: must hold PEM certificates/],
    ['a key without its certificate', () => pems.key, /^RTC_TLS_PEM: must hold PEM certificates/],
    [
      "another certificate's key",
      () => pems.certificate + pems.otherKey,
      /^RTC_TLS_PEM: the private key is not/,
    ],
  ])('%s is a configuration problem that names the variable, not the value', (_, pem, problem) => {
    const result = masterConfigFromEnv({ ...minimalEnv, RTC_TLS_PEM: pem() });
    expect(result).toEqual({ ok: false, problems: [expect.stringMatching(problem)] });
    expect(JSON.stringify(result)).not.toMatch(/BEGIN|END|[A-Za-z0-9+/]{40}/);
  });

  test('the master process refuses to start (exit 2), without echoing the bundle', async () => {
    const start = startNodeProcess({
      kind: 'master',
      env: { ...minimalEnv, RTC_TLS_PEM: pems.certificate + pems.otherKey },
    });
    await expect(start).rejects.toThrow(/exit code 2/);
    const error = await start.catch((err: Error) => err.message);
    expect(error).toMatch(/RTC_TLS_PEM: the private key is not the first certificate's/);
    for (const line of (pems.certificate + pems.otherKey).split('\n').filter((l) => l.length > 20)) {
      expect(error).not.toContain(line);
    }
  });
});
