import { DEFAULT_TIMINGS } from '../../../runtime/contract';
import { startNodeProcess } from '../../../local/node-process';
import { masterConfigFromEnv } from '../../../runtime/master/config';

const minimal = { RTC_REDIS_URL: 'redis://127.0.0.1:6379', RTC_API_SECRET: 'a-secret-of-16-chars' };

test('defaults: port 8080 on every interface, the contract timings, a node id from host and pid', () => {
  const result = masterConfigFromEnv(minimal);
  expect(result).toMatchObject({
    ok: true,
    config: {
      listenHost: '0.0.0.0',
      port: 8080,
      keyPrefix: 'rtc',
      drainDeadlineMs: DEFAULT_TIMINGS.drainDeadlineMs,
      heartbeatIntervalMs: DEFAULT_TIMINGS.heartbeatIntervalMs,
      heartbeatTtlMs: DEFAULT_TIMINGS.heartbeatTtlMs,
      reconnectWindowMs: DEFAULT_TIMINGS.reconnectWindowMs,
      joinTimeoutMs: DEFAULT_TIMINGS.joinTimeoutMs,
      silentSocketTimeoutMs: 2 * DEFAULT_TIMINGS.clientDeadSocketTimeoutMs,
    },
  });
  if (!result.ok) return;
  expect(result.config.nodeId).toMatch(new RegExp(`-${process.pid}$`));
  expect(result.config.instanceId).toBe(result.config.nodeId);
  expect(result.config.advertiseAddress).toBeUndefined();
});

test('every setting can be given; empty strings count as unset', () => {
  const result = masterConfigFromEnv({
    ...minimal,
    RTC_NODE_ID: 'master-a',
    RTC_INSTANCE_ID: 'i-0123',
    RTC_PORT: '9000',
    RTC_ADVERTISE_ADDRESS: '10.0.0.5:9000',
    RTC_KEY_PREFIX: 'app:rtc',
    RTC_HEARTBEAT_INTERVAL_MS: '200',
    RTC_HEARTBEAT_TTL_MS: '',
    RTC_RECONNECT_WINDOW_MS: '5000',
  });
  expect(result).toMatchObject({
    ok: true,
    config: {
      nodeId: 'master-a',
      instanceId: 'i-0123',
      port: 9000,
      advertiseAddress: '10.0.0.5:9000',
      keyPrefix: 'app:rtc',
      heartbeatIntervalMs: 200,
      heartbeatTtlMs: DEFAULT_TIMINGS.heartbeatTtlMs,
      reconnectWindowMs: 5000,
    },
  });
});

test('every problem is listed at once, each naming its variable', () => {
  const result = masterConfigFromEnv({
    RTC_REDIS_URL: 'http://redis',
    RTC_API_SECRET: 'short',
    RTC_PORT: '70000',
    RTC_NODE_ID: 'has spaces',
    RTC_ADVERTISE_ADDRESS: 'no-port',
    RTC_HEARTBEAT_INTERVAL_MS: 'soon',
    RTC_KEY_PREFIX: '{rtc}',
  });
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.problems.map((p) => p.split(':')[0]).sort()).toEqual([
    'RTC_ADVERTISE_ADDRESS',
    'RTC_API_SECRET',
    'RTC_HEARTBEAT_INTERVAL_MS',
    'RTC_KEY_PREFIX',
    'RTC_NODE_ID',
    'RTC_PORT',
    'RTC_REDIS_URL',
  ]);
});

test.each(['master', 'media'] as const)(
  'the %s process exits 2 with every problem on stderr',
  async (kind) => {
    const start = startNodeProcess({ kind, env: { RTC_REDIS_URL: 'nope', RTC_HEARTBEAT_TTL_MS: '-1' } });
    await expect(start).rejects.toThrow(/exit code 2/);
    await expect(start).rejects.toThrow(/RTC_REDIS_URL: must look like redis:\/\/host:port/);
    await expect(start).rejects.toThrow(/RTC_HEARTBEAT_TTL_MS/);
  },
);
