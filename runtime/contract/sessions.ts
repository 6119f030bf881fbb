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
 * Delivery semantics (docs/contract.md): every frame for a participant is numbered (`seq`, per
 * participant) and kept in its mailbox until the client acks it, at most LIMITS.mailboxMaxMessages
 * frames and DEFAULT_TIMINGS.mailboxTtlMs after the newest. A client that resumes with the last seq
 * it saw gets everything after it, in order, exactly once; what was trimmed meanwhile is reported
 * as `missed`, never silently dropped.
 */

export interface SessionRecord {
  sessionId: string;
  createdAt: number;
  metadata?: Metadata;
  mediaNode: MediaNodeSummary | null;
}

export interface ParticipantRecord extends ParticipantSummary {
  epoch: number;
  owner?: string;
  /** Last seq assigned to this participant's mailbox. */
  seq: number;
  disconnectedAt?: number;
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

/** What a delivery did: how many recipients got it, `duplicate` for a cseq already taken. */
export type DeliverResult = Fenced<number> | { ok: true; value: 0; duplicate: true };

export interface SessionStoreOptions {
  readonly prefix?: string;
  readonly mailboxTtlMs?: number;
  readonly mailboxMaxMessages?: number;
  readonly maxParticipantsPerSession?: number;
}

// Redis clock in ms, shared by the scripts below.
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const SCRIPTS = {
  // KEYS: session | ARGV: sessionId, metadata, media node
  createSession: `
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    ${NOW}
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'createdAt', now, 'metadata', ARGV[2], 'media', ARGV[3])
    return 1`,
  // KEYS: session, participants, participant | ARGV: participantId, metadata, maxParticipants
  createParticipant: `
    if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_session' end
    if redis.call('EXISTS', KEYS[3]) == 1 then return 'exists' end
    if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'session_full' end
    ${NOW}
    redis.call('HSET', KEYS[3], 'epoch', 0, 'state', 'pending', 'seq', 0, 'metadata', ARGV[2], 'joinedAt', now)
    redis.call('SADD', KEYS[2], ARGV[1])
    return 'created'`,
  // Take ownership of a participant's connection: bump the epoch, rotate the resume token, tell
  // the old owner. KEYS: participant, channel | ARGV: participantId, node, newHash, presentedHash|''
  claim: `
    if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_participant'} end
    local stored = redis.call('HGET', KEYS[1], 'resumeHash')
    if ARGV[4] ~= '' and stored ~= ARGV[4] then return {'invalid_resume_token'} end
    local prev = redis.call('HMGET', KEYS[1], 'owner', 'state', 'seq', 'cseq')
    local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
    redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'state', 'connected', 'resumeHash', ARGV[3])
    redis.call('HDEL', KEYS[1], 'disconnectedAt')
    redis.call('PUBLISH', KEYS[2], cjson.encode({kind = 'takeover', participantId = ARGV[1], epoch = epoch}))
    return {'ok', epoch, prev[1] or '', prev[2] or 'pending', prev[3] or '0', prev[4] or '0'}`,
  // Number and store a frame for each recipient, then publish them. KEYS: participants, channel,
  // sender|'', then a participant and a mailbox key per recipient | ARGV: sender epoch|'', frame
  // body (a JSON object), mailbox ttl, mailbox max, sender cseq|'', then the recipients' ids.
  // The numbered frame is the body with "seq" spliced in first: numberedFrameSeq reads it back.
  deliver: `
    if KEYS[3] ~= '' and ARGV[1] ~= '' then
      local sender = redis.call('HMGET', KEYS[3], 'epoch', 'cseq')
      if sender[1] ~= ARGV[1] then return -1 end
      -- a resent frame the registry already took: accept it again, deliver nothing twice
      local cseq = tonumber(ARGV[5])
      if cseq <= tonumber(sender[2] or '0') then return -2 end
      redis.call('HSET', KEYS[3], 'cseq', cseq)
    end
    local frames = {}
    local count = 0
    for i = 6, #ARGV do
      local pid = ARGV[i]
      if redis.call('SISMEMBER', KEYS[1], pid) == 1 then
        local k = 4 + (i - 6) * 2
        local seq = redis.call('HINCRBY', KEYS[k], 'seq', 1)
        local framed = '{"seq":' .. seq .. ',' .. string.sub(ARGV[2], 2)
        redis.call('ZADD', KEYS[k + 1], seq, framed)
        redis.call('ZREMRANGEBYRANK', KEYS[k + 1], 0, -(tonumber(ARGV[4]) + 1))
        redis.call('PEXPIRE', KEYS[k + 1], ARGV[3])
        frames[pid] = framed
        count = count + 1
      end
    end
    if count > 0 then redis.call('PUBLISH', KEYS[2], cjson.encode({kind = 'deliver', frames = frames})) end
    return count`,
  // KEYS: participant, mailbox | ARGV: epoch, seq
  ack: `
    if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -1 end
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
  private readonly mailboxTtlMs: number;
  private readonly mailboxMax: number;
  private readonly maxParticipants: number;

  constructor(
    private readonly redis: Redis,
    options: SessionStoreOptions = {},
  ) {
    this.keys = new Keys(options.prefix);
    this.mailboxTtlMs = options.mailboxTtlMs ?? DEFAULT_TIMINGS.mailboxTtlMs;
    this.mailboxMax = options.mailboxMaxMessages ?? LIMITS.mailboxMaxMessages;
    this.maxParticipants = options.maxParticipantsPerSession ?? LIMITS.maxParticipantsPerSession;
  }

  /** Creates the session unless it exists (idempotent: a retried create returns the first one). */
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
    if (created === 1 && mediaNode)
      await this.redis.sadd(this.keys.mediaSessions(mediaNode.nodeId), sessionId);
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

  /** Deletes the session and every participant; masters holding their sockets close them. */
  async deleteSession(sessionId: string): Promise<boolean> {
    const session = await this.getSession(sessionId);
    if (!session) return false;
    for (const pid of await this.redis.smembers(this.keys.participants(sessionId))) {
      await this.removeParticipant(sessionId, pid);
    }
    await this.redis.del(this.keys.session(sessionId), this.keys.participants(sessionId));
    if (session.mediaNode)
      await this.redis.srem(this.keys.mediaSessions(session.mediaNode.nodeId), sessionId);
    return true;
  }

  /** Creates a participant in state `pending` unless it exists (idempotent). */
  async createParticipant(
    sessionId: string,
    participantId: string,
    metadata?: Metadata,
  ): Promise<'created' | 'exists' | 'no_session' | 'session_full'> {
    return (await this.run(
      'createParticipant',
      [
        this.keys.session(sessionId),
        this.keys.participants(sessionId),
        this.keys.participant(sessionId, participantId),
      ],
      [participantId, JSON.stringify(metadata ?? null), String(this.maxParticipants)],
    )) as 'created' | 'exists' | 'no_session' | 'session_full';
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
   * undefined) or a resume token's hash. Bumps the epoch atomically and publishes a takeover so
   * the previous owner, if alive, drops its socket. `newResumeHash` replaces the old resume token.
   */
  async claim(
    sessionId: string,
    participantId: string,
    nodeId: string,
    newResumeHash: string,
    presentedHash?: string,
  ): Promise<ClaimResult> {
    const reply = (await this.run(
      'claim',
      [this.keys.participant(sessionId, participantId), this.keys.sessionChannel(sessionId)],
      [participantId, nodeId, newResumeHash, presentedHash ?? ''],
    )) as [string, number?, string?, string?, string?, string?];
    if (reply[0] !== 'ok')
      return { ok: false, reason: reply[0] as 'unknown_participant' | 'invalid_resume_token' };
    return {
      ok: true,
      epoch: Number(reply[1]),
      previousOwner: reply[2] || undefined,
      previousState: reply[3] as ParticipantState,
      seq: Number(reply[4]),
      acceptedCseq: Number(reply[5]),
    };
  }

  /**
   * Numbers `delivery` for each recipient, stores it in their mailboxes and publishes it on the
   * session channel. With `from`, the sender must still hold `from.epoch` (fencing): otherwise
   * nothing is written and the result says `stale_epoch`; and a `from.cseq` the registry already
   * accepted delivers nothing again (`duplicate`). Returns how many recipients got it.
   */
  async deliver(
    sessionId: string,
    recipients: readonly string[],
    delivery: Delivery,
    from?: Sender,
  ): Promise<DeliverResult> {
    const count = Number(
      await this.run(
        'deliver',
        [
          this.keys.participants(sessionId),
          this.keys.sessionChannel(sessionId),
          from ? this.keys.participant(sessionId, from.participantId) : '',
          ...recipients.flatMap((pid) => [
            this.keys.participant(sessionId, pid),
            this.keys.mailbox(sessionId, pid),
          ]),
        ],
        [
          from ? String(from.epoch) : '',
          JSON.stringify(delivery),
          String(this.mailboxTtlMs),
          String(this.mailboxMax),
          from ? String(from.cseq) : '',
          ...recipients,
        ],
      ),
    );
    if (count === -2) return { ok: true, value: 0, duplicate: true };
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

  /** Sessions placed on a media node (an index, possibly stale: check each session's record). */
  sessionsOnMediaNode(mediaNodeId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.mediaSessions(mediaNodeId));
  }

  /** Moves a session from a dead media node to `next`, unless another master already did. */
  async replaceMediaNode(
    sessionId: string,
    deadNodeId: string,
    next: MediaNodeSummary | null,
  ): Promise<boolean> {
    const moved = Number(
      await this.run('replaceMedia', [this.keys.session(sessionId)], [deadNodeId, JSON.stringify(next)]),
    );
    await this.redis.srem(this.keys.mediaSessions(deadNodeId), sessionId);
    if (moved === 1 && next) await this.redis.sadd(this.keys.mediaSessions(next.nodeId), sessionId);
    return moved === 1;
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
    state: raw.state as ParticipantState,
    metadata: metadata ?? undefined,
    epoch: Number(raw.epoch ?? 0),
    owner: raw.owner || undefined,
    seq: Number(raw.seq ?? 0),
    disconnectedAt: raw.disconnectedAt ? Number(raw.disconnectedAt) : undefined,
  };
}
