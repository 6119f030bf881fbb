/**
 * The local cluster's web page: join a session with the camera, see everyone's video, and the
 * cluster's nodes with buttons that crash, hang or drain them. Served by the runner on loopback;
 * connection tokens come from the runner (it holds the REST secret, the page never sees it).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { RtcHaAdmin } from '../../runtime/client';
import { RtcHaApiError } from '../../runtime/client/errors';
import { COLUMNS, type StatusRow } from '../status-table';

/** What a node's button does: the signals of the failover steps in docs/local-cluster.md. */
export const NODE_ACTIONS = {
  kill: 'SIGKILL',
  hang: 'SIGSTOP',
  resume: 'SIGCONT',
  drain: 'SIGTERM',
} as const satisfies Record<string, NodeJS.Signals>;
export type NodeAction = keyof typeof NODE_ACTIONS;

/** GET /api/status. */
export interface PageStatus {
  /** Whether the media agents run Janus. */
  readonly media: boolean;
  readonly columns: typeof COLUMNS;
  readonly nodes: readonly StatusRow[];
}

/** POST /api/join: the reply to `{ sessionId, participantId }`. */
export interface PageJoin {
  readonly url: string;
  readonly token: string;
}

export interface WebPageOptions {
  /** 0 picks a free one. */
  readonly port: number;
  /** Signaling through HAProxy, for the page's session. */
  readonly signalingUrl: string;
  /** The masters' REST API, with the cluster's secret. */
  readonly admin: RtcHaAdmin;
  readonly media: boolean;
  status(): Promise<StatusRow[]>;
  /** False when no node has that id. */
  signal(nodeId: string, signal: NodeJS.Signals): boolean;
}

export interface WebPage {
  readonly url: string;
  stop(): Promise<void>;
}

const ROOT = join(__dirname, '..', '..');
const MAX_BODY_BYTES = 4_096;

export async function startWebPage(options: WebPageOptions): Promise<WebPage> {
  // The page's script and the SDK in one bundle, built for the browser.
  const script = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(__dirname, 'page.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const files: Record<string, { readonly type: string; readonly body: string | Buffer }> = {
    '/': { type: 'text/html; charset=utf-8', body: await readFile(join(__dirname, 'index.html')) },
    '/page.css': { type: 'text/css', body: await readFile(join(__dirname, 'page.css')) },
    '/page.js': { type: 'text/javascript', body: script.outputFiles[0].text },
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => reply(res, 500, { error: String(err) }));
  });
  let origin = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Another site's page or a rebound DNS name cannot drive the cluster: loopback names only, and
    // POSTs only as JSON (a cross-site form cannot send that without a CORS preflight, never answered).
    if (!/^(127\.0\.0\.1|localhost):\d+$/.test(req.headers.host ?? ''))
      return reply(res, 403, { error: 'host' });
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'GET') {
      const file = files[url.pathname];
      if (file) {
        res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
        return;
      }
      if (url.pathname === '/api/status') {
        const status: PageStatus = { media: options.media, columns: COLUMNS, nodes: await options.status() };
        return reply(res, 200, status);
      }
      return reply(res, 404, { error: 'not found' });
    }
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json')
      return reply(res, 405, { error: 'POST application/json' });
    const body = await readJson(req);
    if (url.pathname === '/api/join') return joinSession(res, body);
    const action = /^\/api\/nodes\/([\w.-]+)\/(\w+)$/.exec(url.pathname);
    if (action && Object.hasOwn(NODE_ACTIONS, action[2])) {
      const known = options.signal(action[1], NODE_ACTIONS[action[2] as NodeAction]);
      return reply(res, known ? 200 : 404, known ? {} : { error: `no node ${action[1]}` });
    }
    return reply(res, 404, { error: 'not found' });
  }

  async function joinSession(res: ServerResponse, body: unknown): Promise<void> {
    const { sessionId, participantId } = (body ?? {}) as Record<string, unknown>;
    if (typeof sessionId !== 'string' || typeof participantId !== 'string')
      return reply(res, 400, { error: 'sessionId and participantId (strings)' });
    try {
      await options.admin.createSession(sessionId); // or finds it
      const { token } = await options.admin.createConnection(sessionId, participantId);
      const joined: PageJoin = { url: options.signalingUrl, token };
      return reply(res, 200, joined);
    } catch (err) {
      // The master's validation message (a bad id, say) is the user's to read.
      const status = err instanceof RtcHaApiError && err.status < 500 ? 400 : 502;
      return reply(res, status, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY_BYTES) throw new Error('body too large');
  }
  try {
    return JSON.parse(text || 'null');
  } catch {
    return undefined;
  }
}
