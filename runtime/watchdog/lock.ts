import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * Keeps watchdog runs from overlapping (a late or duplicated scheduled invocation): two runs would
 * each apply the per-cycle limit and the majority rail on their own, and could flag twice as many.
 */
export interface RunLock {
  /** Takes the lock for `ttlMs`: true if taken, false if another run holds it; rejects when Redis cannot answer. */
  take(ttlMs: number): Promise<boolean>;
  /** Lets go of the lock if this run still holds it. */
  release(): Promise<void>;
}

// Compare-and-delete: a run whose lock expired must not delete the lock the next run took since.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** `SET key token NX PX ttl`, released by its holder only; a crashed holder's lock expires on its own. */
export class RedisRunLock implements RunLock {
  private readonly token = randomUUID();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async take(ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key, this.token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.token);
  }
}
