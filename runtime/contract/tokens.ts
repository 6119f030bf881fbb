import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ID_PATTERN } from './keys';

/**
 * Connection tokens: what an app back end hands a client so it can join one session as one
 * participant. Signed (HMAC-SHA256), short-lived, scoped to that session and participant, and
 * verifiable by every master because they share the signing key.
 *
 * Format: `v1.<base64url(JSON payload)>.<base64url(HMAC over "v1.<payload>")>`
 */
const TokenPayloadSchema = z.object({
  sid: z.string().regex(ID_PATTERN),
  pid: z.string().regex(ID_PATTERN),
  /** Expiry, ms since the epoch. */
  exp: z.number().int(),
  /** The participant's incarnation: after a delete and re-create of the id, the token joins no more. */
  inc: z.string().max(64).optional(),
});
export type ConnectionTokenClaims = {
  sessionId: string;
  participantId: string;
  expiresAt: number;
  incarnation?: string;
};

export type TokenCheck =
  | { ok: true; claims: ConnectionTokenClaims }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

/** Derives the token key from the API secret unless a dedicated one is configured. */
export function tokenKeyFrom(apiSecret: string, tokenSecret?: string): Buffer {
  if (tokenSecret) return Buffer.from(tokenSecret, 'utf8');
  return Buffer.from(hkdfSync('sha256', apiSecret, 'rtc-ha', 'connection tokens v1', 32));
}

/**
 * The keys a master accepts tokens under: one, or several while the API secret rotates (the
 * current secret's and the previous one's, docs/deploying.md).
 */
export type TokenKeys = Buffer | readonly Buffer[];

export function signConnectionToken(key: Buffer, claims: ConnectionTokenClaims): string {
  const payload = Buffer.from(
    JSON.stringify({
      sid: claims.sessionId,
      pid: claims.participantId,
      exp: claims.expiresAt,
      inc: claims.incarnation,
    }),
  ).toString('base64url');
  return `v1.${payload}.${mac(key, `v1.${payload}`)}`;
}

/** Checks a token's signature against every key in `keys` (each in constant time), then its claims. */
export function verifyConnectionToken(keys: TokenKeys, token: unknown, now = Date.now()): TokenCheck {
  if (typeof token !== 'string' || token.length > 1024) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') return { ok: false, reason: 'malformed' };
  const given = Buffer.from(parts[2]);
  const signedBy = (Buffer.isBuffer(keys) ? [keys] : keys).filter((key) => {
    const expected = Buffer.from(mac(key, `v1.${parts[1]}`));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (signedBy.length === 0) return { ok: false, reason: 'bad_signature' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const payload = TokenPayloadSchema.safeParse(decoded);
  if (!payload.success) return { ok: false, reason: 'malformed' };
  if (payload.data.exp <= now) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    claims: {
      sessionId: payload.data.sid,
      participantId: payload.data.pid,
      expiresAt: payload.data.exp,
      ...(payload.data.inc === undefined ? {} : { incarnation: payload.data.inc }),
    },
  };
}

function mac(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('base64url');
}

/**
 * Resume tokens: random, single-use, stored only as a hash. `<base64url(ids)>.<secret>` so a
 * client needs nothing else to resume; only the hash of `secret` is kept in the registry.
 */
export interface ResumeToken {
  readonly token: string;
  readonly hash: string;
}

const ResumeIdsSchema = z.object({ sid: z.string().regex(ID_PATTERN), pid: z.string().regex(ID_PATTERN) });

export function newResumeToken(sessionId: string, participantId: string): ResumeToken {
  const ids = Buffer.from(JSON.stringify({ sid: sessionId, pid: participantId })).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  return { token: `${ids}.${secret}`, hash: hashResumeSecret(secret) };
}

export function parseResumeToken(
  token: unknown,
): { sessionId: string; participantId: string; hash: string } | undefined {
  if (typeof token !== 'string' || token.length > 1024) return undefined;
  const [ids, secret, ...rest] = token.split('.');
  if (rest.length > 0 || !secret || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(ids, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = ResumeIdsSchema.safeParse(decoded);
  if (!parsed.success) return undefined;
  return { sessionId: parsed.data.sid, participantId: parsed.data.pid, hash: hashResumeSecret(secret) };
}

function hashResumeSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
