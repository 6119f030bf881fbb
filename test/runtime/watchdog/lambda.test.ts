import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CYCLE_BUDGET_MS,
  createHandler,
  RUN_LOCK_MARGIN_MS,
  type Connection,
} from '../../../runtime/watchdog/lambda';
import { readSecret } from '../../../runtime/watchdog/secret';
import { readSettings, settingsEnvironment, type WatchdogSettings } from '../../../runtime/watchdog/settings';
import { fleet, instance, view } from './fixtures';

const SETTINGS: WatchdogSettings = {
  redisUrl: 'rediss://master.rtc-store.example:6379',
  authSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rtc-auth',
  keyPrefix: 'rtc',
  replicationGroupId: 'rtc-store',
  cycleMs: 40,
  groups: [
    { role: 'master', groupName: 'masters', port: 8080 },
    { role: 'media', groupName: 'media' },
  ],
  policy: {
    master: { maxFlagsPerCycle: 1, graceMs: 120_000, minHealthyShare: 0.5, bootDeadlineMs: 1_800_000 },
    media: { maxFlagsPerCycle: 2, graceMs: 60_000, minHealthyShare: 0.3 },
  },
};

describe('settings', () => {
  test('what the construct writes, the handler reads back', () => {
    expect(readSettings(settingsEnvironment(SETTINGS))).toEqual({ ...SETTINGS, authSecretField: undefined });
  });

  test('the fleet port and the boot deadline are optional; when set they are checked', () => {
    const env = settingsEnvironment(SETTINGS);
    expect(readSettings(env).groups[1].port).toBeUndefined();
    expect(readSettings(env).policy.media.bootDeadlineMs).toBeUndefined();
    expect(() =>
      readSettings({ ...env, RTC_WATCHDOG_GROUPS: '[{"role":"master","groupName":"m","port":0}]' }),
    ).toThrow(/RTC_WATCHDOG_GROUPS.0.port: Number must be greater than or equal to 1/);
    const policy = JSON.parse(env.RTC_WATCHDOG_POLICY);
    expect(() =>
      readSettings({
        ...env,
        RTC_WATCHDOG_POLICY: JSON.stringify({ ...policy, media: { ...policy.media, bootDeadlineMs: -1 } }),
      }),
    ).toThrow(/RTC_WATCHDOG_POLICY.media.bootDeadlineMs: Number must be greater than 0/);
  });

  test('every problem is listed at once, each naming its variable', () => {
    expect(() =>
      readSettings({ RTC_REDIS_URL: 'http://nope', RTC_WATCHDOG_GROUPS: '[]', RTC_WATCHDOG_CYCLE_MS: '0' }),
    ).toThrow(
      /invalid configuration: RTC_REDIS_URL: must look like redis:\/\/.*; RTC_WATCHDOG_CYCLE_MS: .*; RTC_WATCHDOG_GROUPS: Array must contain at least 1/,
    );
  });
});

/** A Lambda context whose remaining time runs out `ms` after the budget. */
function contextWithSpare(ms: number) {
  const end = Date.now() + CYCLE_BUDGET_MS + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
}

function connection(failFlags = false, lockHeld = false) {
  const close = jest.fn();
  const take = jest.fn(async (_ttlMs: number) => !lockHeld);
  const release = jest.fn(async () => undefined);
  const conn: Connection = {
    registry: { nodes: async () => [view('i-a'), view('i-b'), view('i-c', 4_000)] },
    fleet: {
      observe: async () => ({
        fleets: [
          fleet(
            'master',
            ['i-a', 'i-b', 'i-c'].map((id) => instance(id)),
          ),
        ],
        replicationGroupStatus: 'available',
      }),
      markUnhealthy: async () => {
        if (failFlags) throw new Error('AccessDenied');
      },
    },
    runLock: { take, release },
    close,
  };
  return { conn, close, take, release };
}

describe('createHandler', () => {
  const env = { ...settingsEnvironment(SETTINGS), AWS_LAMBDA_FUNCTION_NAME: 'rtc-watchdog' };
  const probe = async () => ({ ok: false, error: 'ECONNREFUSED' }) as const;

  test('loops every cycle until the remaining time reaches the budget, then reports and lets go', async () => {
    const { conn, close } = connection();
    const lines: Record<string, unknown>[] = [];
    const handler = createHandler({ env, connect: async () => conn, probe, sink: (l) => lines.push(l) });

    const summary = await handler({ 'detail-type': 'Scheduled Event' }, contextWithSpare(200));

    expect(summary.cycles).toBeGreaterThanOrEqual(2);
    expect(summary.cycles).toBeLessThanOrEqual(6);
    expect(summary).toMatchObject({ flags: 1, holds: 0, errors: 0 });
    expect(lines.find((l) => l._aws)).toMatchObject({ FunctionName: 'rtc-watchdog' });
    expect(lines[lines.length - 1]).toMatchObject({ level: 'info', msg: 'watchdog run', flags: 1 });
    expect(close).toHaveBeenCalledTimes(1);
  });

  test('takes the run lock for the time left plus a margin, and releases it', async () => {
    const { conn, take, release } = connection();
    const handler = createHandler({ env, connect: async () => conn, probe, sink: () => undefined });

    await handler({}, contextWithSpare(100));

    expect(take).toHaveBeenCalledTimes(1);
    const [ttlMs] = take.mock.calls[0];
    expect(ttlMs).toBeGreaterThan(CYCLE_BUDGET_MS + RUN_LOCK_MARGIN_MS);
    expect(ttlMs).toBeLessThanOrEqual(CYCLE_BUDGET_MS + 100 + RUN_LOCK_MARGIN_MS);
    expect(release).toHaveBeenCalledTimes(1);
  });

  test('a lock held by another run: a skipped run, logged as such, no error, connection closed', async () => {
    const { conn, close, release } = connection(false, true);
    const lines: Record<string, unknown>[] = [];
    const handler = createHandler({ env, connect: async () => conn, probe, sink: (l) => lines.push(l) });

    const summary = await handler({}, contextWithSpare(200));

    expect(summary).toMatchObject({ cycles: 0, skipped: 'lock held' });
    expect(lines).toEqual([
      expect.objectContaining({ FunctionName: 'rtc-watchdog', SkippedRuns: 1 }),
      expect.objectContaining({ level: 'warn', msg: 'watchdog run', skipped: 'lock held' }),
    ]);
    expect(release).not.toHaveBeenCalled();
    expect(close).toHaveBeenCalledTimes(1);
  });

  test('a run with a failed flag ends in an error (the error alarm), after letting go', async () => {
    const { conn, close } = connection(true);
    const handler = createHandler({ env, connect: async () => conn, probe, sink: () => undefined });

    await expect(handler({}, contextWithSpare(100))).rejects.toThrow(
      /watchdog run: \d+ error\(s\) in \d+ cycle\(s\)/,
    );
    expect(close).toHaveBeenCalledTimes(1);
  });

  test('bad settings fail the invocation before connecting', async () => {
    const connect = jest.fn();
    const handler = createHandler({ env: {}, connect });

    await expect(handler({}, contextWithSpare(10))).rejects.toThrow(/RTC_REDIS_URL: required/);
    expect(connect).not.toHaveBeenCalled();
  });
});

describe('readSecret', () => {
  const secrets = mockClient(SecretsManagerClient);
  beforeEach(() => {
    secrets.reset();
    secrets.on(GetSecretValueCommand, { SecretId: 'rtc-auth' }).resolves({ SecretString: 'plain-token' });
    secrets
      .on(GetSecretValueCommand, { SecretId: 'rtc-auth-json' })
      .resolves({ SecretString: '{"token":"from-json"}' });
    secrets.on(GetSecretValueCommand, { SecretId: 'binary' }).resolves({ SecretBinary: new Uint8Array([1]) });
  });

  test('answers the secret string of the secret asked for', async () => {
    await expect(readSecret('rtc-auth', undefined)).resolves.toBe('plain-token');
    expect(secrets.commandCalls(GetSecretValueCommand)[0].args[0].input).toEqual({ SecretId: 'rtc-auth' });
  });

  test('reads one field of a JSON secret', async () => {
    await expect(readSecret('rtc-auth-json', 'token')).resolves.toBe('from-json');
    await expect(readSecret('rtc-auth-json', 'nope')).rejects.toThrow('has no string field nope');
    await expect(readSecret('rtc-auth', 'token')).rejects.toThrow('is not JSON, so it has no field token');
  });

  test('a secret without a string value is an error', async () => {
    await expect(readSecret('binary', undefined)).rejects.toThrow('binary has no string value');
  });
});
