import { DEFAULT_TIMINGS, DEFAULT_TURN_PORT, turnCredentials } from '../../../runtime/contract';
import { startNodeProcess } from '../../../local/node-process';
import { masterConfigFromEnv } from '../../../runtime/master/config';
import { withIceServers } from '../../../runtime/master/media-placement';

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

test('TURN: on with RTC_TURN_SECRET (port 443 unless given, TLS host optional); a bad one is named', () => {
  const secret = 'turn-secret-0123456789';
  expect(masterConfigFromEnv(minimal)).toMatchObject({ ok: true, config: { turn: undefined } });
  expect(masterConfigFromEnv({ ...minimal, RTC_TURN_SECRET: secret })).toMatchObject({
    ok: true,
    config: { turn: { secret, port: DEFAULT_TURN_PORT, tlsHost: undefined } },
  });
  expect(
    masterConfigFromEnv({
      ...minimal,
      RTC_TURN_SECRET: secret,
      RTC_TURN_PORT: '3478',
      RTC_TURN_TLS_HOST: '{ip}.turn.example.com',
    }),
  ).toMatchObject({ ok: true, config: { turn: { secret, port: 3478, tlsHost: '{ip}.turn.example.com' } } });
  const bad = masterConfigFromEnv({
    ...minimal,
    RTC_TURN_SECRET: 'has a space',
    RTC_TURN_TLS_HOST: 'Not A Name',
  });
  expect(bad.ok).toBe(false);
  if (bad.ok) return;
  expect(bad.problems.map((p) => p.split(':')[0]).sort()).toEqual(['RTC_TURN_SECRET', 'RTC_TURN_TLS_HOST']);
});

test("withIceServers: the node's TURN URLs with fresh credentials, nothing without TURN or a node", () => {
  const turn = { secret: 'turn-secret-0123456789', port: 443, tlsHost: '{ip}.turn.example.com' };
  const node = { nodeId: 'media-1', address: '203.0.113.7' };
  expect(withIceServers(undefined, node, 'alice')).toEqual({});
  expect(withIceServers(turn, null, 'alice')).toEqual({});
  const { iceServers } = withIceServers(turn, node, 'alice');
  expect(iceServers).toHaveLength(1);
  const [server] = iceServers!;
  expect(server.urls).toEqual([
    'turn:203.0.113.7:443?transport=udp',
    'turn:203.0.113.7:443?transport=tcp',
    'turns:203-0-113-7.turn.example.com:443?transport=tcp',
  ]);
  expect(server).toMatchObject(turnCredentials(turn.secret, 'alice'));
});
