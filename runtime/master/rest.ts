import { createHash, timingSafeEqual } from 'node:crypto';
import { API_USER } from '../contract/wire';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  ConnectionResource,
  CreateConnectionBodySchema,
  CreateSessionBodySchema,
  IdSchema,
  LIMITS,
  RestErrorCode,
  SessionRecord,
  SessionResource,
  SessionStore,
  connectionHolder,
  isRedisOutOfMemory,
  isRedisUnavailable,
  signConnectionToken,
} from '../contract';
import { isClientAbort, pathOf, sendError, sendJson } from '../node/http';
import type { Logger } from '../node/log';
import type { Departures } from './departures';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from './frames';
import type { MediaPlacement } from './media-placement';

export interface RestDeps {
  readonly store: SessionStore;
  readonly placement: MediaPlacement;
  readonly departures: Departures;
  /** Secrets a caller may authenticate with (the current one first), each with its token key. */
  readonly credentials: readonly ApiCredential[];
  readonly connectionTokenTtlMs: number;
  /** Why this node cannot take work right now ('draining' among them); empty when ready. */
  readonly readiness: () => string[];
  readonly log: Logger;
}

/**
 * One accepted API secret and the key of the connection tokens its callers get: a token is signed
 * under the secret the caller used, so masters that know only that secret verify it too.
 */
export interface ApiCredential {
  readonly secret: string;
  readonly tokenKey: Buffer;
}

/** A reply that is not 2xx: `{"error": {code, message, details?}}`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: RestErrorCode,
    message: string,
    readonly details?: string[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

interface Call {
  readonly params: Record<string, string>;
  readonly body: unknown;
  /** Token key of the secret the caller authenticated with. */
  readonly tokenKey: Buffer;
}
interface Reply {
  readonly status: number;
  readonly body?: unknown;
}
interface Operation {
  /** Creates work: refused while draining. */
  readonly creates?: boolean;
  readonly body?: z.ZodTypeAny;
  readonly run: (call: Call) => Promise<Reply>;
}
interface Route {
  /** Path segments; `:name` is a parameter (an id). */
  readonly path: readonly string[];
  readonly operations: Partial<Record<string, Operation>>;
}

/** The REST API of docs/contract.md ("The REST API"), as a request listener. */
export function createRestHandler(deps: RestDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = defineRoutes(deps);
  return (req, res) => {
    handle(req, res, routes, deps).catch((err: unknown) => {
      deps.log.error('rest_failed', { error: err, stack: (err as Error)?.stack });
      sendError(res, 500, 'internal', 'internal error');
    });
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Route[], deps: RestDeps) {
  try {
    // Authentication first: without the secret, every path and method gets the same 401 (no route discovery).
    const credential = authorized(req.headers.authorization, deps.credentials);
    if (!credential) {
      throw new HttpError(
        401,
        'unauthorized',
        `HTTP Basic auth with user ${API_USER} and the API secret`,
        undefined,
        {
          'www-authenticate': `Basic realm="${API_USER}"`,
        },
      );
    }
    const { route, params } = match(routes, pathOf(req));
    const operation = route.operations[req.method ?? ''];
    if (!operation) {
      const allow = Object.keys(route.operations).join(', ');
      throw new HttpError(405, 'method_not_allowed', `use ${allow}`, undefined, { allow });
    }
    const invalid = Object.entries(params).flatMap(([name, value]) => {
      const parsed = IdSchema.safeParse(value);
      return parsed.success ? [] : parsed.error.issues.map((i) => `${name}: ${i.message}`);
    });
    if (invalid.length) throw new HttpError(400, 'invalid_path', 'invalid id in the path', invalid);
    refuseWhenNotReady(deps.readiness(), operation);
    const body = operation.body ? validate(operation.body, await readJson(req)) : undefined;
    const reply = await operation.run({ params, body, tokenKey: credential.tokenKey });
    sendJson(res, reply.status, reply.body);
  } catch (err) {
    if (err instanceof HttpError) {
      sendError(res, err.status, err.code, err.message, err.details, err.headers);
    } else if (isRedisUnavailable(err)) {
      sendError(res, 503, 'registry_unavailable', 'registry unavailable: retry');
    } else if (isRedisOutOfMemory(err)) {
      sendError(res, 503, 'registry_full', 'registry out of memory: nothing written, retry later');
    } else if (isClientAbort(req, err)) {
      // The client went away mid-request: routine, and nobody is left to answer.
      deps.log.info('request_aborted', { method: req.method, path: pathOf(req), error: err });
    } else {
      throw err;
    }
  }
}

function defineRoutes(deps: RestDeps): Route[] {
  const { store, placement, departures, log } = deps;
  const sessionOr404 = async (sessionId: string): Promise<SessionRecord> => {
    const session = await store.getSession(sessionId);
    if (!session) throw new HttpError(404, 'not_found', `no session ${sessionId}`);
    return session;
  };
  const resource = async (session: SessionRecord): Promise<SessionResource> => ({
    ...session,
    participants: (await store.listParticipants(session.sessionId)).map((p) => ({
      participantId: p.participantId,
      state: p.state,
      metadata: p.metadata,
      master: connectionHolder(p),
    })),
  });

  return [
    {
      path: ['v1', 'sessions'],
      operations: {
        POST: {
          creates: true,
          body: CreateSessionBodySchema,
          run: async ({ body }) => {
            const { sessionId, metadata } = body as z.infer<typeof CreateSessionBodySchema>;
            const existing = await store.getSession(sessionId);
            if (existing) return { status: 200, body: await resource(existing) };
            await store.indexSession(sessionId);
            const mediaNode = await placement.forNewSession(sessionId);
            if (!mediaNode) throw new HttpError(503, 'no_media_node', 'no media node has room: retry');
            const { created, session } = await store.createSession(sessionId, metadata, mediaNode);
            if (created) log.info('session_created', { sessionId, mediaNode: mediaNode.nodeId });
            else if (session.mediaNode?.nodeId !== mediaNode.nodeId)
              await placement.release(sessionId, mediaNode.nodeId);
            return { status: created ? 201 : 200, body: await resource(session) };
          },
        },
      },
    },
    {
      path: ['v1', 'sessions', ':sessionId'],
      operations: {
        GET: {
          run: async ({ params }) => ({
            status: 200,
            body: await resource(await sessionOr404(params.sessionId)),
          }),
        },
        DELETE: {
          run: async ({ params }) => {
            if (!(await store.deleteSession(params.sessionId))) {
              throw new HttpError(404, 'not_found', `no session ${params.sessionId}`);
            }
            log.info('session_deleted', { sessionId: params.sessionId });
            return { status: 204 };
          },
        },
      },
    },
    {
      path: ['v1', 'sessions', ':sessionId', 'connections'],
      operations: {
        POST: {
          creates: true,
          body: CreateConnectionBodySchema,
          run: async ({ params, body, tokenKey }) => {
            const { sessionId } = params;
            const { participantId, metadata } = body as z.infer<typeof CreateConnectionBodySchema>;
            const created = await store.createParticipant(sessionId, participantId, metadata);
            if (created.outcome === 'no_session')
              throw new HttpError(404, 'not_found', `no session ${sessionId}`);
            if (created.outcome === 'session_full') {
              throw new HttpError(409, 'session_full', `at most ${store.maxParticipants} participants`);
            }
            const expiresAt = Date.now() + deps.connectionTokenTtlMs;
            const token = signConnectionToken(tokenKey, {
              sessionId,
              participantId,
              expiresAt,
              incarnation: created.incarnation,
            });
            const connection: ConnectionResource = { sessionId, participantId, token, expiresAt };
            return { status: created.outcome === 'created' ? 201 : 200, body: connection };
          },
        },
      },
    },
    {
      path: ['v1', 'sessions', ':sessionId', 'connections', ':participantId'],
      operations: {
        DELETE: {
          run: async ({ params }) => {
            const { sessionId, participantId } = params;
            const removed = await store.removeParticipant(sessionId, participantId);
            if (!removed.ok) throw new HttpError(404, 'not_found', `no participant ${participantId}`);
            await departures.announceLeft(sessionId, participantId);
            return { status: 204 };
          },
        },
      },
    },
  ];
}

function match(routes: Route[], path: string): { route: Route; params: Record<string, string> } {
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'invalid_path', 'malformed percent-encoding in the path');
  }
  for (const route of routes) {
    if (route.path.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = route.path.every((part, i) => {
      if (part.startsWith(':')) params[part.slice(1)] = segments[i];
      return part.startsWith(':') || part === segments[i];
    });
    if (matches) return { route, params };
  }
  throw new HttpError(404, 'not_found', 'no such route');
}

// Draining refuses new work only; losing the registry refuses everything (clients retry on 503).
function refuseWhenNotReady(reasons: string[], operation: Operation): void {
  const blocking = reasons.filter((r) => r !== 'draining');
  if (blocking.length) throw new HttpError(503, 'not_ready', 'not ready: retry', blocking);
  if (operation.creates && reasons.includes('draining')) {
    throw new HttpError(503, 'draining', 'this master is draining: retry');
  }
}

/**
 * The credential whose secret the HTTP Basic header carries, checked in constant time against
 * every one (hashes first, so lengths leak nothing either); undefined when none matches.
 */
function authorized(
  header: string | undefined,
  credentials: readonly ApiCredential[],
): ApiCredential | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const userOk = sameSecret(decoded.slice(0, colon), API_USER);
  const password = decoded.slice(colon + 1);
  const matches = credentials.filter((credential) => sameSecret(password, credential.secret));
  return userOk ? matches[0] : undefined;
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, LIMITS.maxRestBodyBytes);
  if (text.trim() === '') return undefined; // reported by the schema as a missing object
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'bad_json', `body is not JSON: ${(err as Error).message}`);
  }
}

/**
 * The body as text, or 413 once it passes `limit`. The rest of an oversized body is discarded
 * (not destroyed, so the 413 still reaches the client) and the connection closed after the reply.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = new HttpError(413, 'payload_too_large', `bodies are at most ${limit} bytes`, undefined, {
    connection: 'close',
  });
  if (Number(req.headers['content-length']) > limit) return Promise.reject(tooLarge);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.resume();
      reject(tooLarge);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function validate(schema: z.ZodTypeAny, body: unknown): unknown {
  if (exceedsJsonDepth(body)) {
    throw new HttpError(400, 'invalid_body', 'invalid body', [
      `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
    ]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
  throw new HttpError(400, 'invalid_body', 'invalid body', details);
}
