import { once } from 'node:events';
import Redis, { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { createRedis, isRedisUnavailable, untilReady } from '../../../runtime/contract';
import { freePort } from '../../../local/ports';
import { RedisServer, startRedisServer } from '../../../local/redis-server';

/** The error `op` rejects with (fails the test if it resolves). */
async function failure(op: () => Promise<unknown>): Promise<unknown> {
  try {
    await op();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const systemError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });

describe('isRedisUnavailable, by error type', () => {
  test.each<[string, boolean, unknown]>([
    ['MaxRetriesPerRequestError', true, new MaxRetriesPerRequestError(0)],
    ['ReplyError LOADING', true, new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['ReplyError READONLY', true, new ReplyError("READONLY You can't write against a read only replica.")],
    ['ReplyError CLUSTERDOWN', true, new ReplyError('CLUSTERDOWN The cluster is down')],
    ['ReplyError TRYAGAIN', true, new ReplyError('TRYAGAIN Multiple keys request during rehashing')],
    ['ReplyError ERR (a bad command: a bug)', false, new ReplyError('ERR unknown command')],
    ['ReplyError NOSCRIPT', false, new ReplyError('NOSCRIPT No matching script')],
    ['ECONNREFUSED', true, systemError('ECONNREFUSED')],
    ['ECONNRESET', true, systemError('ECONNRESET')],
    ['ETIMEDOUT', true, systemError('ETIMEDOUT')],
    ['another system error (EACCES)', false, systemError('EACCES')],
    ["ioredis's command timeout", true, new Error('Command timed out')],
    ['a plain error that mentions a timeout', false, new Error('lookup timed out: Command timed out')],
    ['a TypeError (a bug)', false, new TypeError('Cannot read properties of undefined')],
    ['a subclass with an ioredis message', false, new RangeError('Connection is closed.')],
    ['not an Error', false, 'ECONNREFUSED'],
  ])('%s -> %s', (_name, unavailable, err) => {
    expect(isRedisUnavailable(err)).toBe(unavailable);
  });
});

describe('isRedisUnavailable on the errors a real client raises', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  // Wait for the socket to close, or its disconnect timer outlives the test file.
  afterEach(async () => {
    if (redis.status === 'end') return;
    const ended = once(redis, 'end');
    redis.disconnect();
    await ended;
  });

  test('a command that outlives the command timeout', async () => {
    redis = await untilReady(createRedis({ url: server.url, commandTimeoutMs: 50 }));
    const err = await failure(() => redis.blpop('never-filled', 1));
    expect(isRedisUnavailable(err)).toBe(true);
  });

  test('a command while disconnected (no offline queue)', async () => {
    redis = createRedis({ url: `redis://127.0.0.1:${await freePort()}` });
    const err = await failure(() => redis.get('k'));
    expect(isRedisUnavailable(err)).toBe(true);
  });

  test('a command pending when the connection closes', async () => {
    redis = await untilReady(createRedis({ url: server.url }));
    const pending = failure(() => redis.blpop('never-filled', 5));
    redis.disconnect();
    expect(isRedisUnavailable(await pending)).toBe(true);
  });

  test('a bad command is a bug, not an outage', async () => {
    redis = await untilReady(createRedis({ url: server.url }));
    const err = await failure(() => redis.call('NO-SUCH-COMMAND'));
    expect(isRedisUnavailable(err)).toBe(false);
  });
});
