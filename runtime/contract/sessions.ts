import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { parseJsonOrUndefined } from './json';
import { Keys } from './keys';
import type {
  DeliveredFrame,
  Delivery,
  MediaNodeSummary,
  Metadata,
  ParticipantState,
  ParticipantSummary,
} from './messages';
import { DEFAULT_TIMINGS, LIMITS } from './timings';

/**
 * The session store: session records, participants, their ownership epochs (fencing tokens) and
 * mailboxes, in Redis. Every write that depends on who owns a participant's connection is one Lua
 * script that checks the epoch first, so a master holding a stale epoch cannot change anything.
 *
 * Delivery semantics (docs/contract.md): every frame for a participant that has connected once is
 * numbered (`seq`, per participant) and kept in its mailbox until the client acks it, at most
 * LIMITS.mailboxMaxMessages frames and LIMITS.mailboxMaxBytes, and DEFAULT_TIMINGS.mailboxTtlMs
 * after the newest. A client that resumes with the last seq it saw gets everything after it, in
 * order, exactly once; what was trimmed meanwhile is reported as `missed`, never silently dropped.
 * A participant that never connected gets no mailbox: its roster at join is what it is owed.
 *
 * Lifecycle: every session is in the session index from before its record exists, and the sweeper
 * (runtime/master/sweeper.ts, via sweepSession) ends what nobody ends otherwise.
 */

export interface SessionRecord {
  sessionId: string;
  createdAt: number;
  metadata?: Metadata;
  mediaNode: MediaNodeSummary | null;
}

export interface ParticipantRecord extends ParticipantSummary {
  /** Which creation of this participant id it is: a token of an earlier one cannot claim it. */
  incarnation: string;
  epoch: number;
  owner?: string;
  /** Last seq assigned to this participant's mailbox. */
  seq: number;
  disconnectedAt?: number;
}

/**
 * The master holding a participant's connection: its owner while connected. None while pending,
 * nor while disconnected (the owner is the last master it had, kept to sweep it when that master dies).
 */
export function connectionHolder(participant: ParticipantRecord): string | null {
  return participant.state === 'connected' ? (participant.owner ?? null) : null;
}

export type Fenced<T> = { ok: true; value: T } | { ok: false; reason: 'stale_epoch' | 'unknown_participant' };

export type ClaimResult =
  | {
      ok: true;
      epoch: number;
      previousOwner?: string;
      previousState: ParticipantState;
      /** Last seq assigned to the participant's mailbox. */
      seq: number;
      /** Last cseq of the participant's own frames the registry accepted. */
      acceptedCseq: number;
      /** The participant's metadata, for the room's participantJoined. */
      metadata?: Metadata;
    }
  | { ok: false; reason: 'unknown_participant' | 'invalid_resume_token' };

export interface Replay {
  frames: DeliveredFrame[];
  /** Frames after `afterSeq` that are gone (trimmed or expired). */
  missed: number;
  /** Highest seq assigned so far. */
  seq: number;
}

/** A participant sending its own frame `cseq` while holding `epoch` (fenced and deduplicated). */
export interface Sender {
  readonly participantId: string;
  readonly epoch: number;
  readonly cseq: number;
}

/**
 * What a delivery did: how many recipients got it, `duplicate` for a cseq already taken,
 * `rate_limited` when the sender is over LIMITS.senderRate (nothing stored).
 */
export type DeliverResult =
  | Fenced<number>
  | { ok: true; value: 0; duplicate: true }
  /** rate_limited: over LIMITS.senderRate; out_of_order: `cseq` is not the next one (nothing stored). */
  | { ok: false; reason: 'rate_limited' | 'out_of_order' };

export type CreateParticipantResult =
  | { outcome: 'created'; incarnation: string }
  | { outcome: 'exists'; incarnation: string }
  | { outcome: 'no_session' }
  | { outcome: 'session_full' };

/** A participant's claim to announce to the room: participantJoined the first time, then participantReconnected. */
export interface PresenceNotice {
  readonly participantId: string;
  readonly epoch: number;
  /** The participant as the room should see it when it is new to them. */
  readonly summary: ParticipantSummary;
}

/** What one sweep did to a session. */
export type SweepResult =
  | { outcome: 'kept'; removed: string[] }
  | { outcome: 'deleted'; mediaNode: MediaNodeSummary | null }
  | { outcome: 'gone' };

export interface SessionStoreOptions {
  readonly prefix?: string;
  readonly mailboxTtlMs?: number;
  readonly mailboxMaxMessages?: number;
  readonly mailboxMaxBytes?: number;
  readonly maxParticipantsPerSession?: number;
  readonly senderRate?: { bytesPerSecond: number; burstBytes: number; minFrameCost: number };
  readonly reconnectWindowMs?: number;
  readonly pendingParticipantTimeoutMs?: number;
  readonly emptySessionTimeoutMs?: number;
  readonly sessionSweepEveryMs?: number;
}

// Redis clock in ms, shared by the scripts below.
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// Numbers `body` (a JSON object) for one recipient and stores it in its mailbox, trimming the oldest
// frames past the frame and byte bounds (`mbytes` counts the mailbox's bytes; a mailbox that
// expired starts again at 0). Returns the numbered frame.
const PUSH = `
local function push(pkey, mkey, body, ttl, maxFrames, maxBytes)
  local seq = redis.call('HINCRBY', pkey, 'seq', 1)
  local framed = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  if redis.call('EXISTS', mkey) == 0 then redis.call('HSET', pkey, 'mbytes', 0) end
  redis.call('ZADD', mkey, seq, framed)
  local bytes = redis.call('HINCRBY', pkey, 'mbytes', #framed)
  local n = redis.call('ZCARD', mkey)
  while n > 1 and (n > maxFrames or bytes > maxBytes) do
    local oldest = redis.call('ZPOPMIN', mkey)
    bytes = redis.call('HINCRBY', pkey, 'mbytes', -#oldest[1])
    n = n - 1
  end
  redis.call('PEXPIRE', mkey, ttl)
  return framed
end
-- only a participant that connected once has a mailbox
local function connectedOnce(pkey)
  local state = redis.call('HGET', pkey, 'state')
  return state and state ~= 'pending'
end`;

const SCRIPTS = {
  // KEYS: session | ARGV: sessionId, metadata, media node
  createSession: `
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    ${NOW}
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'createdAt', now, 'metadata', ARGV[2], 'media', ARGV[3])
    return 1`,
  // A token issued for a pending participant extends its life (issuedAt). KEYS: session,
  // participants, participant | ARGV: participantId, metadata, maxParticipants, new incarnation
  createParticipant: `
    if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_session'} end
    ${NOW}
    if redis.call('EXISTS', KEYS[3]) == 1 then
      if redis.call('HGET', KEYS[3], 'state') == 'pending' then redis.call('HSET', KEYS[3], 'issuedAt', now) end
      return {'exists', redis.call('HGET', KEYS[3], 'inc') or ''}
    end
    if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'session_full'} end
    redis.call('HSET', KEYS[3], 'epoch', 0, 'state', 'pending', 'seq', 0, 'metadata', ARGV[2], 'joinedAt', now,
      'issuedAt', now, 'inc', ARGV[4])
    redis.call('SADD', KEYS[2], ARGV[1])
    return {'created', ARGV[4]}`,
  // Take ownership of a participant's connection: bump the epoch, rotate the resume token, tell
  // the old owner. A connection token names the incarnation it was issued for.
  // KEYS: participant, channel | ARGV: participantId, node, newHash, presentedHash|'', incarnation|''
  claim: `
    if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_participant'} end
    if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'inc') ~= ARGV[5] then return {'unknown_participant'} end
    local stored = redis.call('HGET', KEYS[1], 'resumeHash')
    if ARGV[4] ~= '' and stored ~= ARGV[4] then return {'invalid_resume_token'} end
    local prev = redis.call('HMGET', KEYS[1], 'owner', 'state', 'seq', 'cseq', 'metadata')
    local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
    redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'state', 'connected', 'resumeHash', ARGV[3])
    redis.call('HDEL', KEYS[1], 'disconnectedAt')
    redis.call('PUBLISH', KEYS[2], cjson.encode({kind = 'takeover', participantId = ARGV[1], epoch = epoch}))
    return {'ok', epoch, prev[1] or '', prev[2] or 'pending', prev[3] or '0', prev[4] or '0', prev[5] or 'null'}`,
  // Number and store a frame for each recipient that connected once, then publish them. A sender
  // is fenced, deduplicated by cseq and rate limited (a token bucket of bytes: rt tokens at rat).
  // KEYS: channel, sender|'', then a participant and a mailbox key per recipient | ARGV: sender
  // epoch|'', frame body (a JSON object), mailbox ttl, max frames, max bytes, sender cseq|'',
  // bytes per second, burst bytes, min frame cost, then the recipients' ids.
  deliver: `${PUSH}
    if KEYS[2] ~= '' and ARGV[1] ~= '' then
      local sender = redis.call('HMGET', KEYS[2], 'epoch', 'cseq', 'rt', 'rat')
      if sender[1] ~= ARGV[1] then return -1 end
      -- a resent frame the registry already took: accept it again, deliver nothing twice
      local cseq = tonumber(ARGV[6])
      if cseq <= tonumber(sender[2] or '0') then return -2 end
      -- one that skips a cseq would make the skipped one a duplicate forever: masters pipeline
      if cseq > tonumber(sender[2] or '0') + 1 then return -4 end
      ${NOW}
      local burst = tonumber(ARGV[8])
      local last = tonumber(sender[4] or now)
      local tokens = math.min(burst, tonumber(sender[3] or burst) + (now - last) * tonumber(ARGV[7]) / 1000)
      local cost = math.max(#ARGV[2], tonumber(ARGV[9]))
      if tokens < cost then
        redis.call('HSET', KEYS[2], 'rt', tokens, 'rat', now)
        return -3
      end
      redis.call('HSET', KEYS[2], 'cseq', cseq, 'rt', tokens - cost, 'rat', now)
    end
    local frames = {}
    for i = 10, #ARGV do
      local k = 3 + (i - 10) * 2
      if connectedOnce(KEYS[k]) then
        frames[#frames + 1] = {ARGV[i], push(KEYS[k], KEYS[k + 1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))}
      end
    end
    if #frames > 0 then redis.call('PUBLISH', KEYS[1], cjson.encode({kind = 'deliver', frames = frames})) end
    return #frames`,
  // Announce claims to the room, each once: a subject still at the claimed epoch and not announced
  // at it yet gets participantJoined if the room never heard of it, else participantReconnected.
  // KEYS: channel, a participant key per subject, then a participant and a mailbox key per
  // recipient | ARGV: mailbox ttl, max frames, max bytes, subject count, then per subject its id,
  // epoch, joined body and reconnected body, then the recipients' ids.
  announce: `${PUSH}
    local n = tonumber(ARGV[4])
    local notices = {}
    for i = 1, n do
      local a = 4 + (i - 1) * 4
      local rec = redis.call('HMGET', KEYS[1 + i], 'state', 'epoch', 'announced')
      if rec[1] and rec[1] ~= 'pending' and rec[2] == ARGV[a + 2] and tonumber(rec[3] or '0') < tonumber(ARGV[a + 2]) then
        redis.call('HSET', KEYS[1 + i], 'announced', ARGV[a + 2])
        notices[#notices + 1] = {ARGV[a + 1], rec[3] and ARGV[a + 4] or ARGV[a + 3]}
      end
    end
    if #notices == 0 then return 0 end
    local frames = {}
    local first = 5 + n * 4
    for j = first, #ARGV do
      local k = 2 + n + (j - first) * 2
      if connectedOnce(KEYS[k]) then
        for _, notice in ipairs(notices) do
          if notice[1] ~= ARGV[j] then
            frames[#frames + 1] = {ARGV[j], push(KEYS[k], KEYS[k + 1], notice[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))}
          end
        end
      end
    end
    if #frames > 0 then redis.call('PUBLISH', KEYS[1], cjson.encode({kind = 'deliver', frames = frames})) end
    return #notices`,
  // KEYS: participant, mailbox | ARGV: epoch, seq
  ack: `
    if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -1 end
    local bytes = 0
    for _, frame in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do bytes = bytes + #frame end
    if bytes > 0 then redis.call('HINCRBY', KEYS[1], 'mbytes', -bytes) end
    return redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])`,
  // KEYS: participant, mailbox | ARGV: afterSeq
  replay: `
    local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
    if seq < 0 then return {-1} end
    local frames = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
    return {seq, frames}`,
  // KEYS: participant | ARGV: epoch
  markDisconnected: `
    if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -1 end
    ${NOW}
    redis.call('HSET', KEYS[1], 'state', 'disconnected', 'disconnectedAt', now)
    return 1`,
  // Remove a participant; with an epoch, only if it still holds it and (when asked) is still
  // disconnected. KEYS: participants, participant, mailbox, channel | ARGV: pid, epoch|'', onlyIfDisconnected
  remove: `
    if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
    if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[2] then return -1 end
    if ARGV[3] == '1' and redis.call('HGET', KEYS[2], 'state') ~= 'disconnected' then return -1 end
    redis.call('DEL', KEYS[2], KEYS[3])
    redis.call('SREM', KEYS[1], ARGV[1])
    redis.call('PUBLISH', KEYS[4], cjson.encode({kind = 'removed', participantId = ARGV[1]}))
    return 1`,
  // One sweep of a session (docs/contract.md, "Session lifecycle"): remove participants that never
  // connected within their timeout and disconnected ones past their reconnect window; mark
  // disconnected those whose owner is not a live master (their window starts now); delete the
  // session once nobody was connected (or within a window) for the empty-session timeout.
  // KEYS: session, participants, channel, then a participant and a mailbox key per participant |
  // ARGV: reconnect window, pending timeout, empty timeout, participant count, their ids, live masters
  sweep: `
    ${NOW}
    local n = tonumber(ARGV[4])
    local live = {}
    for i = 5 + n, #ARGV do live[ARGV[i]] = true end
    local exists = redis.call('EXISTS', KEYS[1]) == 1
    local removed, kept, active = {}, {}, 0
    for i = 1, n do
      local pid, pkey, mkey = ARGV[4 + i], KEYS[2 + i * 2], KEYS[3 + i * 2]
      local rec = redis.call('HMGET', pkey, 'state', 'owner', 'disconnectedAt', 'issuedAt')
      local gone = not exists or not rec[1]
      if gone then
      elseif rec[1] == 'pending' then
        gone = tonumber(rec[4] or '0') + tonumber(ARGV[2]) <= now
      elseif rec[1] == 'connected' and not live[rec[2] or ''] then
        redis.call('HSET', pkey, 'state', 'disconnected', 'disconnectedAt', now)
      elseif rec[1] == 'disconnected' then
        gone = tonumber(rec[3] or '0') + tonumber(ARGV[1]) <= now
      end
      if gone then
        redis.call('DEL', pkey, mkey)
        redis.call('SREM', KEYS[2], pid)
        if rec[1] then
          redis.call('PUBLISH', KEYS[3], cjson.encode({kind = 'removed', participantId = pid}))
          removed[#removed + 1] = pid
        end
      else
        kept[#kept + 1] = i
        if rec[1] ~= 'pending' then active = active + 1 end
      end
    end
    if not exists then
      redis.call('DEL', KEYS[2])
      return {'gone'}
    end
    if active > 0 then
      redis.call('HDEL', KEYS[1], 'emptySince')
      return {'kept', unpack(removed)}
    end
    local since = tonumber(redis.call('HGET', KEYS[1], 'emptySince') or '')
    if not since then redis.call('HSET', KEYS[1], 'emptySince', now) end
    -- a participant created since the caller listed them: not now
    if not since or since + tonumber(ARGV[3]) > now or redis.call('SCARD', KEYS[2]) ~= #kept then
      return {'kept', unpack(removed)}
    end
    for _, i in ipairs(kept) do
      redis.call('DEL', KEYS[2 + i * 2], KEYS[3 + i * 2])
      redis.call('PUBLISH', KEYS[3], cjson.encode({kind = 'removed', participantId = ARGV[4 + i]}))
    end
    local media = redis.call('HGET', KEYS[1], 'media')
    redis.call('DEL', KEYS[1], KEYS[2])
    return {'deleted', media or 'null'}`,
  // Move a session off a dead media node only if nobody did already. KEYS: session | ARGV: old id, new json
  replaceMedia: `
    local media = redis.call('HGET', KEYS[1], 'media')
    if not media then return 0 end
    local current = cjson.decode(media)
    local currentId = (type(current) == 'table' and current.nodeId) or ''
    if currentId ~= ARGV[1] then return 0 end
    redis.call('HSET', KEYS[1], 'media', ARGV[2])
    return 1`,
} as const;

type ScriptName = keyof typeof SCRIPTS;

const NUMBERED_FRAME_SEQ = /^\{"seq":(\d+),/;

/**
 * The seq of a numbered frame as the deliver script writes it (`{"seq":N,` then the delivery's
 * fields), read without parsing the rest; undefined for anything else.
 */
export function numberedFrameSeq(raw: string): number | undefined {
  const match = NUMBERED_FRAME_SEQ.exec(raw);
  return match ? Number(match[1]) : undefined;
}

export class SessionStore {
  readonly keys: Keys;
  private readonly options: Required<Omit<SessionStoreOptions, 'prefix'>>;

  constructor(
    private readonly redis: Redis,
    options: SessionStoreOptions = {},
  ) {
    this.keys = new Keys(options.prefix);
    this.options = {
      mailboxTtlMs: options.mailboxTtlMs ?? DEFAULT_TIMINGS.mailboxTtlMs,
      mailboxMaxMessages: options.mailboxMaxMessages ?? LIMITS.mailboxMaxMessages,
      mailboxMaxBytes: options.mailboxMaxBytes ?? LIMITS.mailboxMaxBytes,
      maxParticipantsPerSession: options.maxParticipantsPerSession ?? LIMITS.maxParticipantsPerSession,
      senderRate: options.senderRate ?? LIMITS.senderRate,
      reconnectWindowMs: options.reconnectWindowMs ?? DEFAULT_TIMINGS.reconnectWindowMs,
      pendingParticipantTimeoutMs:
        options.pendingParticipantTimeoutMs ?? DEFAULT_TIMINGS.pendingParticipantTimeoutMs,
      emptySessionTimeoutMs: options.emptySessionTimeoutMs ?? DEFAULT_TIMINGS.emptySessionTimeoutMs,
      sessionSweepEveryMs: options.sessionSweepEveryMs ?? DEFAULT_TIMINGS.sessionSweepEveryMs,
    };
  }

  /** Most participants a session takes (409 session_full beyond it). */
  get maxParticipants(): number {
    return this.options.maxParticipantsPerSession;
  }

  /**
   * Puts a session id in the session index, due for its first sweep a little later: done before
   * the session (or its media reservation) is written, so a create that dies halfway has an owner.
   */
  async indexSession(sessionId: string): Promise<void> {
    await this.redis.zadd(
      this.keys.sessionIndex(),
      'NX',
      Date.now() + this.options.sessionSweepEveryMs,
      sessionId,
    );
  }

  /**
   * Creates the session unless it exists (idempotent: a retried create returns the first one).
   * The caller indexed it (indexSession) and reserved `mediaNode` for it beforehand.
   */
  async createSession(
    sessionId: string,
    metadata: Metadata | undefined,
    mediaNode: MediaNodeSummary | null,
  ): Promise<{ created: boolean; session: SessionRecord }> {
    const created = await this.run(
      'createSession',
      [this.keys.session(sessionId)],
      [sessionId, JSON.stringify(metadata ?? null), JSON.stringify(mediaNode)],
    );
    const session = await this.getSession(sessionId);
    if (!session) throw new Error(`session ${sessionId} vanished while being created`);
    return { created: created === 1, session };
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.session(sessionId));
    if (!raw.id) return undefined;
    return {
      sessionId,
      createdAt: Number(raw.createdAt),
      metadata: (parseJsonOrUndefined(raw.metadata) as Metadata | null) ?? undefined,
      mediaNode: (parseJsonOrUndefined(raw.media) as MediaNodeSummary | null) ?? null,
    };
  }

  /**
   * Deletes the session and every participant; masters holding their sockets close them. Its
   * media reservation and index entry go too.
   */
  async deleteSession(sessionId: string): Promise<boolean> {
    const session = await this.getSession(sessionId);
    if (!session) return false;
    for (const pid of await this.redis.smembers(this.keys.participants(sessionId))) {
      await this.removeParticipant(sessionId, pid);
    }
    await this.redis.del(this.keys.session(sessionId), this.keys.participants(sessionId));
    await this.forgetSession(sessionId, session.mediaNode);
    return true;
  }

  /**
   * Creates a participant in state `pending` unless it exists (idempotent; a new token for a
   * pending one extends its pending timeout), with a new incarnation its connection tokens name.
   */
  async createParticipant(
    sessionId: string,
    participantId: string,
    metadata?: Metadata,
  ): Promise<CreateParticipantResult> {
    const [outcome, incarnation] = (await this.run(
      'createParticipant',
      [
        this.keys.session(sessionId),
        this.keys.participants(sessionId),
        this.keys.participant(sessionId, participantId),
      ],
      [
        participantId,
        JSON.stringify(metadata ?? null),
        String(this.options.maxParticipantsPerSession),
        randomBytes(9).toString('base64url'),
      ],
    )) as [CreateParticipantResult['outcome'], string?];
    return outcome === 'created' || outcome === 'exists'
      ? { outcome, incarnation: incarnation ?? '' }
      : { outcome };
  }

  /**
   * Whether `hash` is the participant's current resume token hash: one read, so a forged resume
   * costs O(1) before anything costlier (the claim checks it again, atomically). A hash of 256
   * random bits compared with `===` leaks nothing worth timing.
   */
  async resumeHashMatches(sessionId: string, participantId: string, hash: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.participant(sessionId, participantId), 'resumeHash')) === hash;
  }

  async getParticipant(sessionId: string, participantId: string): Promise<ParticipantRecord | undefined> {
    const raw = await this.redis.hgetall(this.keys.participant(sessionId, participantId));
    return raw.state ? toParticipant(participantId, raw) : undefined;
  }

  async listParticipants(sessionId: string): Promise<ParticipantRecord[]> {
    const ids = await this.redis.smembers(this.keys.participants(sessionId));
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.participant(sessionId, id));
    const results = (await pipeline.exec()) ?? [];
    return ids
      .map((id, i) => {
        const raw = results[i]?.[1] as Record<string, string> | undefined;
        return raw?.state ? toParticipant(id, raw) : undefined;
      })
      .filter((p): p is ParticipantRecord => p !== undefined)
      .sort((a, b) => a.participantId.localeCompare(b.participantId));
  }

  /**
   * Takes over a participant's connection for `nodeId`: with a connection token (`presentedHash`
   * undefined; `incarnation` from the token, when it names one) or a resume token's hash. Bumps
   * the epoch atomically and publishes a takeover so the previous owner, if alive, drops its
   * socket. `newResumeHash` replaces the old resume token.
   */
  async claim(
    sessionId: string,
    participantId: string,
    nodeId: string,
    newResumeHash: string,
    presentedHash?: string,
    incarnation?: string,
  ): Promise<ClaimResult> {
    const reply = (await this.run(
      'claim',
      [this.keys.participant(sessionId, participantId), this.keys.sessionChannel(sessionId)],
      [participantId, nodeId, newResumeHash, presentedHash ?? '', incarnation ?? ''],
    )) as [string, number?, string?, string?, string?, string?, string?];
    if (reply[0] !== 'ok')
      return { ok: false, reason: reply[0] as 'unknown_participant' | 'invalid_resume_token' };
    return {
      ok: true,
      epoch: Number(reply[1]),
      previousOwner: reply[2] || undefined,
      previousState: reply[3] as ParticipantState,
      seq: Number(reply[4]),
      acceptedCseq: Number(reply[5]),
      metadata: (parseJsonOrUndefined(reply[6]) as Metadata | null | undefined) ?? undefined,
    };
  }

  /**
   * Numbers `delivery` for each recipient that connected once, stores it in their mailboxes and
   * publishes it on the session channel. With `from`, the sender must still hold `from.epoch`
   * (fencing): otherwise nothing is written and the result says `stale_epoch`; a `from.cseq` the
   * registry already accepted delivers nothing again (`duplicate`); a sender over its rate gets
   * `rate_limited`. Returns how many recipients got it.
   */
  async deliver(
    sessionId: string,
    recipients: readonly string[],
    delivery: Delivery,
    from?: Sender,
  ): Promise<DeliverResult> {
    const { mailboxTtlMs, mailboxMaxMessages, mailboxMaxBytes, senderRate } = this.options;
    const count = Number(
      await this.run(
        'deliver',
        [
          this.keys.sessionChannel(sessionId),
          from ? this.keys.participant(sessionId, from.participantId) : '',
          ...this.recipientKeys(sessionId, recipients),
        ],
        [
          from ? String(from.epoch) : '',
          JSON.stringify(delivery),
          String(mailboxTtlMs),
          String(mailboxMaxMessages),
          String(mailboxMaxBytes),
          from ? String(from.cseq) : '',
          String(senderRate.bytesPerSecond),
          String(senderRate.burstBytes),
          String(senderRate.minFrameCost),
          ...recipients,
        ],
      ),
    );
    if (count === -2) return { ok: true, value: 0, duplicate: true };
    if (count === -3) return { ok: false, reason: 'rate_limited' };
    if (count === -4) return { ok: false, reason: 'out_of_order' };
    return count < 0 ? { ok: false, reason: 'stale_epoch' } : { ok: true, value: count };
  }

  /**
   * Delivers to every participant of the session but one: `except` by id, or a Sender, whose own
   * frame is then fenced and deduplicated as in deliver() (even with nobody else to get it).
   */
  async deliverToOthers(
    sessionId: string,
    except: string | Sender | undefined,
    delivery: Delivery,
  ): Promise<DeliverResult> {
    const from = typeof except === 'object' ? except : undefined;
    const exceptId = from ? from.participantId : except;
    const others = (await this.redis.smembers(this.keys.participants(sessionId))).filter(
      (id) => id !== exceptId,
    );
    if (others.length === 0 && !from) return { ok: true, value: 0 };
    return this.deliver(sessionId, others, delivery, from);
  }

  /**
   * Tells the room about claims, in one call for several participants: each claim once, as
   * `participantJoined` the first time the room hears of that participant, `participantReconnected`
   * after; a claim already announced, or superseded by a newer one, is skipped. Safe to retry.
   * Returns how many notices went out.
   */
  async announce(sessionId: string, notices: readonly PresenceNotice[]): Promise<number> {
    const { mailboxTtlMs, mailboxMaxMessages, mailboxMaxBytes } = this.options;
    const recipients = await this.redis.smembers(this.keys.participants(sessionId));
    return Number(
      await this.run(
        'announce',
        [
          this.keys.sessionChannel(sessionId),
          ...notices.map((n) => this.keys.participant(sessionId, n.participantId)),
          ...this.recipientKeys(sessionId, recipients),
        ],
        [
          String(mailboxTtlMs),
          String(mailboxMaxMessages),
          String(mailboxMaxBytes),
          String(notices.length),
          ...notices.flatMap((n) => {
            const joined: Delivery = { type: 'participantJoined', participant: n.summary };
            const back: Delivery = { type: 'participantReconnected', participantId: n.participantId };
            return [n.participantId, String(n.epoch), JSON.stringify(joined), JSON.stringify(back)];
          }),
          ...recipients,
        ],
      ),
    );
  }

  /** Drops mailbox frames up to `seq`; fenced. */
  async ack(sessionId: string, participantId: string, epoch: number, seq: number): Promise<Fenced<number>> {
    const removed = Number(
      await this.run(
        'ack',
        [this.keys.participant(sessionId, participantId), this.keys.mailbox(sessionId, participantId)],
        [String(epoch), String(seq)],
      ),
    );
    return removed < 0 ? { ok: false, reason: 'stale_epoch' } : { ok: true, value: removed };
  }

  /** Frames after `afterSeq` still in the mailbox, and how many after it are gone. */
  async replay(sessionId: string, participantId: string, afterSeq: number): Promise<Replay | undefined> {
    const reply = (await this.run(
      'replay',
      [this.keys.participant(sessionId, participantId), this.keys.mailbox(sessionId, participantId)],
      [String(afterSeq)],
    )) as [number, string[]?];
    if (reply[0] < 0) return undefined;
    const seq = Number(reply[0]);
    const frames = (reply[1] ?? [])
      .map((f) => parseJsonOrUndefined(f) as DeliveredFrame | undefined)
      .filter((f): f is DeliveredFrame => f !== undefined);
    return { frames, seq, missed: Math.max(0, seq - afterSeq - frames.length) };
  }

  /** The owner's socket closed: keep the participant for resume; fenced. */
  async markDisconnected(sessionId: string, participantId: string, epoch: number): Promise<Fenced<true>> {
    const r = await this.run(
      'markDisconnected',
      [this.keys.participant(sessionId, participantId)],
      [String(epoch)],
    );
    return Number(r) < 0 ? { ok: false, reason: 'stale_epoch' } : { ok: true, value: true };
  }

  /**
   * Removes a participant (mailbox included) and tells masters to close its socket. With `epoch`,
   * only while it still holds that epoch, and with `onlyIfDisconnected` only if nobody resumed it.
   */
  async removeParticipant(
    sessionId: string,
    participantId: string,
    fence?: { epoch: number; onlyIfDisconnected?: boolean },
  ): Promise<Fenced<true>> {
    const r = Number(
      await this.run(
        'remove',
        [
          this.keys.participants(sessionId),
          this.keys.participant(sessionId, participantId),
          this.keys.mailbox(sessionId, participantId),
          this.keys.sessionChannel(sessionId),
        ],
        [participantId, fence ? String(fence.epoch) : '', fence?.onlyIfDisconnected ? '1' : '0'],
      ),
    );
    if (r === 0) return { ok: false, reason: 'unknown_participant' };
    return r < 0 ? { ok: false, reason: 'stale_epoch' } : { ok: true, value: true };
  }

  /** Up to `limit` session ids whose sweep is due (Redis clock), the most overdue first. */
  async dueSessions(limit: number): Promise<string[]> {
    const [seconds, micros] = await this.redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    return this.redis.zrangebyscore(this.keys.sessionIndex(), '-inf', now, 'LIMIT', 0, limit);
  }

  /**
   * Sweeps one session (see the sweep script) with `liveMasters` as the owners still alive, then
   * keeps its index entry due again later, or forgets it with its media reservation when the
   * session ended. The caller tells the room of `removed` participants (participantLeft).
   */
  async sweepSession(sessionId: string, liveMasters: readonly string[]): Promise<SweepResult> {
    const { reconnectWindowMs, pendingParticipantTimeoutMs, emptySessionTimeoutMs } = this.options;
    const pids = await this.redis.smembers(this.keys.participants(sessionId));
    const [outcome, ...rest] = (await this.run(
      'sweep',
      [
        this.keys.session(sessionId),
        this.keys.participants(sessionId),
        this.keys.sessionChannel(sessionId),
        ...this.recipientKeys(sessionId, pids),
      ],
      [
        String(reconnectWindowMs),
        String(pendingParticipantTimeoutMs),
        String(emptySessionTimeoutMs),
        String(pids.length),
        ...pids,
        ...liveMasters,
      ],
    )) as [SweepResult['outcome'], ...string[]];
    if (outcome === 'kept') {
      await this.redis.zadd(
        this.keys.sessionIndex(),
        Date.now() + this.options.sessionSweepEveryMs,
        sessionId,
      );
      return { outcome, removed: rest };
    }
    const mediaNode =
      outcome === 'deleted' ? (parseJsonOrUndefined(rest[0]) as MediaNodeSummary | null) : null;
    await this.forgetSession(sessionId, mediaNode);
    return outcome === 'deleted' ? { outcome, mediaNode } : { outcome };
  }

  /** Sessions placed on a media node (its reservations; check each session's record). */
  sessionsOnMediaNode(mediaNodeId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.mediaSessions(mediaNodeId));
  }

  /**
   * Moves a session from a dead media node to `next` (reserved there by the caller), unless another
   * master already did; the dead node's reservation goes either way.
   */
  async replaceMediaNode(
    sessionId: string,
    deadNodeId: string,
    next: MediaNodeSummary | null,
  ): Promise<boolean> {
    const moved = Number(
      await this.run('replaceMedia', [this.keys.session(sessionId)], [deadNodeId, JSON.stringify(next)]),
    );
    await this.redis.srem(this.keys.mediaSessions(deadNodeId), sessionId);
    return moved === 1;
  }

  /**
   * Drops an ended session's index entry and media reservation. A create of the same id racing
   * with it indexes it again (checked after the removal), so a live session never loses its owner.
   */
  private async forgetSession(sessionId: string, mediaNode: MediaNodeSummary | null): Promise<void> {
    if (mediaNode) await this.redis.srem(this.keys.mediaSessions(mediaNode.nodeId), sessionId);
    await this.redis.zrem(this.keys.sessionIndex(), sessionId);
    if (await this.redis.exists(this.keys.session(sessionId))) await this.indexSession(sessionId);
  }

  private recipientKeys(sessionId: string, participantIds: readonly string[]): string[] {
    return participantIds.flatMap((pid) => [
      this.keys.participant(sessionId, pid),
      this.keys.mailbox(sessionId, pid),
    ]);
  }

  private async run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    // EVALSHA with EVAL fallback: the script is sent once per Redis (re)start, not per call.
    const redis = this.redis as Redis & Record<string, (...a: unknown[]) => Promise<unknown>>;
    if (!redis[`rtc_${name}`]) this.redis.defineCommand(`rtc_${name}`, { lua: SCRIPTS[name] });
    return redis[`rtc_${name}`](keys.length, ...keys, ...args);
  }
}

function toParticipant(participantId: string, raw: Record<string, string>): ParticipantRecord {
  const metadata = parseJsonOrUndefined(raw.metadata) as Metadata | null | undefined;
  return {
    participantId,
    incarnation: raw.inc ?? '',
    state: raw.state as ParticipantState,
    metadata: metadata ?? undefined,
    epoch: Number(raw.epoch ?? 0),
    owner: raw.owner || undefined,
    seq: Number(raw.seq ?? 0),
    disconnectedAt: raw.disconnectedAt ? Number(raw.disconnectedAt) : undefined,
  };
}
