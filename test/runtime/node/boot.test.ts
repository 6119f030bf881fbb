import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { MASTER_ENV, masterConfigFromEnv } from '../../../runtime/master/config';
import { MEDIA_ENV } from '../../../runtime/media/config';
import {
  assembleBootEnv,
  parseBootEnv,
  parseSettingsLines,
  readBootEnv,
  resolveBootEnv,
  BOOT_READ_RETRY,
} from '../../../runtime/node/boot';
import { Imds } from '../../../runtime/node/imds';
import { ImdsStandIn, startImds } from '../../support/imds';

const API_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rtc-api-AbCdEf';
const REDIS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rtc-redis-AbCdEf';
const FACTS = { instanceId: 'i-0123456789abcdef0', localIpv4: '10.0.1.23', publicIpv4: '203.0.113.7' };

describe('parseBootEnv', () => {
  test('GIVEN no settings parameter THEN boot mode is off, whatever else is set', () => {
    expect(parseBootEnv({ RTC_BOOT_REGION: 'eu-west-1' })).toEqual({ ok: true, config: undefined });
  });

  test('GIVEN the boot variables THEN region, parameter, secrets and signal target', () => {
    const result = parseBootEnv({
      RTC_BOOT_REGION: 'eu-west-1',
      RTC_BOOT_SETTINGS_PARAMETER: '/rtc-ha/master/settings',
      RTC_BOOT_SECRETS: `RTC_API_SECRET=${API_ARN}, RTC_REDIS_AUTH_TOKEN=${REDIS_ARN}`,
      RTC_BOOT_SIGNAL_STACK: 'RtcHa',
      RTC_BOOT_SIGNAL_RESOURCE: 'MastersAsg1234',
    });
    expect(result).toEqual({
      ok: true,
      config: {
        region: 'eu-west-1',
        settingsParameter: '/rtc-ha/master/settings',
        secrets: { RTC_API_SECRET: API_ARN, RTC_REDIS_AUTH_TOKEN: REDIS_ARN },
        signal: { stack: 'RtcHa', resource: 'MastersAsg1234' },
      },
    });
  });

  test('GIVEN boot mode with every mistake THEN every problem, each naming its variable', () => {
    const result = parseBootEnv({
      RTC_BOOT_SETTINGS_PARAMETER: '/p',
      RTC_BOOT_SECRETS: `RTC_API_SECRET=${API_ARN},api=${API_ARN},RTC_X=not-an-arn,RTC_API_SECRET=${API_ARN}`,
      RTC_BOOT_SIGNAL_STACK: 'RtcHa',
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'RTC_BOOT_REGION: required in boot mode',
      `RTC_BOOT_SECRETS: "api=${API_ARN}" is not RTC_NAME=<secret ARN>`,
      'RTC_BOOT_SECRETS: "RTC_X=not-an-arn" is not RTC_NAME=<secret ARN>',
      'RTC_BOOT_SECRETS: RTC_API_SECRET is listed twice',
      'RTC_BOOT_SIGNAL_STACK and RTC_BOOT_SIGNAL_RESOURCE: set both or neither',
    ]);
  });

  test('GIVEN a malformed region THEN the zod problem names it', () => {
    const result = parseBootEnv({ RTC_BOOT_SETTINGS_PARAMETER: '/p', RTC_BOOT_REGION: 'Europe' });
    expect(!result.ok && result.problems).toEqual([
      expect.stringMatching(/^RTC_BOOT_REGION: must be an AWS region/),
    ]);
  });

  test.each(['203.0.113.7', 'rtc.example.com', 'media-1.eu-west-1.example.org'])(
    'GIVEN RTC_BOOT_PUBLIC_ADDRESS %s THEN it is the public address',
    (address) => {
      const result = parseBootEnv({
        RTC_BOOT_SETTINGS_PARAMETER: '/p',
        RTC_BOOT_REGION: 'eu-west-1',
        RTC_BOOT_PUBLIC_ADDRESS: address,
      });
      expect(result.ok && result.config?.publicAddress).toBe(address);
    },
  );

  test.each([
    '203.0.113.256',
    '10.0.0',
    '203.0.113.7:9090',
    'http://rtc.example.com',
    '-rtc.example.com',
    'a b',
  ])('GIVEN RTC_BOOT_PUBLIC_ADDRESS %s THEN a problem naming it', (address) => {
    const result = parseBootEnv({
      RTC_BOOT_SETTINGS_PARAMETER: '/p',
      RTC_BOOT_REGION: 'eu-west-1',
      RTC_BOOT_PUBLIC_ADDRESS: address,
    });
    expect(!result.ok && result.problems).toEqual([
      'RTC_BOOT_PUBLIC_ADDRESS: must be an IPv4 address or a host name such as rtc.example.com',
    ]);
  });
});

describe('parseSettingsLines', () => {
  test('GIVEN lines RTC_NAME=value THEN a map; the value keeps any later "="; blank lines are skipped', () => {
    expect(parseSettingsLines('RTC_PORT=8080\r\n\nRTC_REDIS_URL=rediss://r:6379/?a=b\n')).toEqual({
      RTC_PORT: '8080',
      RTC_REDIS_URL: 'rediss://r:6379/?a=b',
    });
  });

  test('GIVEN malformed and repeated lines THEN the error names each one', () => {
    expect(() => parseSettingsLines('RTC_PORT=1\nPORT=2\nRTC_PORT 3\nRTC_PORT=4')).toThrow(
      'settings: line 2 "PORT=2" is not RTC_NAME=value; line 3 "RTC_PORT 3" is not RTC_NAME=value; line 4: RTC_PORT is set twice',
    );
  });
});

describe('assembleBootEnv', () => {
  const settings = { RTC_REDIS_URL: 'rediss://r:6379', RTC_PORT: '8443' };

  test('GIVEN facts, settings and secrets THEN identity from IMDS, advertise address with the port', () => {
    const result = assembleBootEnv('master', FACTS, settings, { RTC_API_SECRET: 's'.repeat(32) });
    expect(result).toEqual({
      ok: true,
      config: {
        ...settings,
        RTC_API_SECRET: 's'.repeat(32),
        RTC_NODE_ID: FACTS.instanceId,
        RTC_INSTANCE_ID: FACTS.instanceId,
        RTC_LISTEN_HOST: '0.0.0.0',
        RTC_ADVERTISE_ADDRESS: '10.0.1.23:8443',
      },
    });
  });

  test("GIVEN no RTC_PORT THEN the role's default port; media nodes get the public address", () => {
    const master = assembleBootEnv('master', FACTS, {}, {});
    const media = assembleBootEnv('media', FACTS, {}, {});
    expect(master.ok && master.config.RTC_ADVERTISE_ADDRESS).toBe('10.0.1.23:8080');
    expect(master.ok && master.config.RTC_PUBLIC_ADDRESS).toBeUndefined();
    expect(media.ok && media.config).toMatchObject({
      RTC_ADVERTISE_ADDRESS: '10.0.1.23:9090',
      RTC_PUBLIC_ADDRESS: '203.0.113.7',
    });
  });

  test('GIVEN a public address (the Elastic IP) THEN media nodes advertise it instead of their public-ipv4', () => {
    const media = assembleBootEnv('media', FACTS, {}, {}, '198.51.100.9');
    const master = assembleBootEnv('master', FACTS, {}, {}, '198.51.100.9');
    expect(media.ok && media.config).toMatchObject({
      RTC_PUBLIC_ADDRESS: '198.51.100.9',
      RTC_MEDIA_ICE_ADDRESS: FACTS.localIpv4,
    });
    expect(master.ok && master.config.RTC_PUBLIC_ADDRESS).toBeUndefined();
  });

  test('GIVEN a public address and no public-ipv4 THEN the media node needs none', () => {
    const media = assembleBootEnv('media', { ...FACTS, publicIpv4: undefined }, {}, {}, 'rtc.example.com');
    expect(media).toEqual({
      ok: true,
      config: expect.objectContaining({ RTC_PUBLIC_ADDRESS: 'rtc.example.com' }),
    });
  });

  test('GIVEN the assembled env THEN the master parser accepts it (the advertise address has its port)', () => {
    const env = assembleBootEnv('master', FACTS, settings, { RTC_API_SECRET: 's'.repeat(32) });
    const parsed = masterConfigFromEnv(env.ok ? env.config : {});
    expect(parsed.ok && parsed.config).toMatchObject({
      nodeId: FACTS.instanceId,
      advertiseAddress: '10.0.1.23:8443',
      port: 8443,
    });
  });

  test('GIVEN settings or secrets that set identity or each other THEN a problem each, no override', () => {
    const result = assembleBootEnv(
      'media',
      { ...FACTS, publicIpv4: undefined },
      { RTC_NODE_ID: 'x', RTC_ADVERTISE_ADDRESS: '1.2.3.4:1', RTC_API_SECRET: 'y' },
      { RTC_LISTEN_HOST: '127.0.0.1', RTC_API_SECRET: 'z'.repeat(16) },
    );
    expect(!result.ok && result.problems).toEqual([
      'settings: RTC_NODE_ID comes from instance metadata, not the settings',
      'RTC_BOOT_SECRETS: RTC_LISTEN_HOST comes from instance metadata',
      'settings: RTC_ADVERTISE_ADDRESS comes from instance metadata, not the settings',
      'settings: RTC_API_SECRET is a secret (RTC_BOOT_SECRETS), not a setting',
      'RTC_PUBLIC_ADDRESS: instance metadata has no public-ipv4 (media nodes need a public address; RTC_BOOT_PUBLIC_ADDRESS gives one)',
    ]);
  });
});

describe('resolveBootEnv (SDK mocked, IMDS stand-in)', () => {
  const ssm = mockClient(SSMClient);
  const secretsManager = mockClient(SecretsManagerClient);
  let imds: ImdsStandIn;
  const boot = {
    region: 'eu-west-1',
    settingsParameter: '/rtc-ha/settings',
    secrets: { RTC_API_SECRET: API_ARN, RTC_REDIS_AUTH_TOKEN: REDIS_ARN },
  };
  const clients = () => ({
    ssm: new SSMClient({ region: 'eu-west-1' }),
    secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
    imds: new Imds(imds.endpoint),
  });

  beforeEach(async () => {
    ssm.reset();
    secretsManager.reset();
    imds = await startImds({ 'instance-id': FACTS.instanceId, 'local-ipv4': FACTS.localIpv4 });
    ssm
      .on(GetParameterCommand, { Name: '/rtc-ha/settings' })
      .resolves({ Parameter: { Value: 'RTC_REDIS_URL=rediss://r:6379\nRTC_LIFECYCLE_HOOK_NAME=drain' } });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: API_ARN, VersionStage: 'AWSCURRENT' })
      .resolves({ SecretString: 'current-api-secret-0123456789' })
      .on(GetSecretValueCommand, { SecretId: REDIS_ARN, VersionStage: 'AWSCURRENT' })
      .resolves({ SecretString: 'redis-token' })
      .on(GetSecretValueCommand, { SecretId: API_ARN, VersionStage: 'AWSPREVIOUS' })
      .rejects(new ResourceNotFoundException({ message: 'no such stage', $metadata: {} }));
  });
  afterEach(() => imds.close());

  test('GIVEN a rotated API secret THEN current and previous; other secrets only their current stage', async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: API_ARN, VersionStage: 'AWSPREVIOUS' })
      .resolves({ SecretString: 'previous-api-secret-0123456789' });
    const result = await resolveBootEnv(boot, 'master', new Set(Object.keys(MASTER_ENV)), clients());
    expect(result).toEqual({
      ok: true,
      config: {
        RTC_REDIS_URL: 'rediss://r:6379',
        RTC_LIFECYCLE_HOOK_NAME: 'drain',
        RTC_API_SECRET: 'current-api-secret-0123456789',
        RTC_API_SECRET_PREVIOUS: 'previous-api-secret-0123456789',
        RTC_REDIS_AUTH_TOKEN: 'redis-token',
        RTC_NODE_ID: FACTS.instanceId,
        RTC_INSTANCE_ID: FACTS.instanceId,
        RTC_LISTEN_HOST: '0.0.0.0',
        RTC_ADVERTISE_ADDRESS: '10.0.1.23:8080',
      },
    });
    expect(secretsManager.commandCalls(GetSecretValueCommand, { SecretId: REDIS_ARN })).toHaveLength(1);
  });

  test('GIVEN a never-rotated API secret (no AWSPREVIOUS) THEN RTC_API_SECRET_PREVIOUS stays unset', async () => {
    const result = await resolveBootEnv(boot, 'master', new Set(Object.keys(MASTER_ENV)), clients());
    expect(result.ok && result.config.RTC_API_SECRET).toBe('current-api-secret-0123456789');
    expect(result.ok && 'RTC_API_SECRET_PREVIOUS' in result.config).toBe(false);
  });

  test('GIVEN the media role THEN RTC_API_SECRET is never read; no public-ipv4 is a problem', async () => {
    const result = await resolveBootEnv(boot, 'media', new Set(Object.keys(MEDIA_ENV)), clients());
    expect(secretsManager.commandCalls(GetSecretValueCommand, { SecretId: API_ARN })).toHaveLength(0);
    expect(!result.ok && result.problems).toEqual([
      'RTC_PUBLIC_ADDRESS: instance metadata has no public-ipv4 (media nodes need a public address; RTC_BOOT_PUBLIC_ADDRESS gives one)',
    ]);
    imds.set('public-ipv4', FACTS.publicIpv4);
    const again = await resolveBootEnv(boot, 'media', new Set(Object.keys(MEDIA_ENV)), clients());
    expect(again.ok && again.config.RTC_PUBLIC_ADDRESS).toBe(FACTS.publicIpv4);
  });

  test('GIVEN RTC_BOOT_PUBLIC_ADDRESS THEN the media node advertises it, with or without a public-ipv4', async () => {
    const withAddress = { ...boot, publicAddress: '198.51.100.9' };
    const result = await resolveBootEnv(withAddress, 'media', new Set(Object.keys(MEDIA_ENV)), clients());
    expect(result.ok && result.config.RTC_PUBLIC_ADDRESS).toBe('198.51.100.9');
    imds.set('public-ipv4', FACTS.publicIpv4);
    const again = await resolveBootEnv(withAddress, 'media', new Set(Object.keys(MEDIA_ENV)), clients());
    expect(again.ok && again.config.RTC_PUBLIC_ADDRESS).toBe('198.51.100.9');
  });

  test('GIVEN a malformed settings line THEN a problem naming the parameter and the line', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'RTC_PORT=8080\nnonsense' } });
    const result = await resolveBootEnv(boot, 'master', new Set(Object.keys(MASTER_ENV)), clients());
    expect(!result.ok && result.problems).toEqual([
      '/rtc-ha/settings: settings: line 2 "nonsense" is not RTC_NAME=value',
    ]);
  });

  test('GIVEN an unreadable secret or IMDS without an instance id THEN it throws, naming the cause', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: REDIS_ARN }).rejects(new Error('AccessDenied'));
    await expect(resolveBootEnv(boot, 'master', new Set(Object.keys(MASTER_ENV)), clients())).rejects.toThrow(
      'AccessDenied',
    );
    secretsManager.reset();
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'x'.repeat(20) });
    imds.set('instance-id', undefined);
    await expect(resolveBootEnv(boot, 'master', new Set(Object.keys(MASTER_ENV)), clients())).rejects.toThrow(
      'IMDS has no meta-data/instance-id for this instance',
    );
  });

  describe('readBootEnv: retried while AWS or IMDS fail', () => {
    const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 15 };
    const variables = new Set(Object.keys(MASTER_ENV));

    test('GIVEN the parameter unreadable twice (credentials not there yet) THEN the third attempt boots', async () => {
      ssm
        .on(GetParameterCommand)
        .rejectsOnce(new Error('Could not load credentials from any providers'))
        .rejectsOnce(new Error('AccessDeniedException'))
        .resolves({ Parameter: { Value: 'RTC_REDIS_URL=rediss://r:6379' } });
      const retries: [string, number, number][] = [];
      const result = await readBootEnv(
        boot,
        'master',
        variables,
        clients(),
        (err, attempt, delayMs) => retries.push([err.message, attempt, delayMs]),
        FAST,
      );
      expect(result.ok && result.config.RTC_REDIS_URL).toBe('rediss://r:6379');
      expect(retries).toEqual([
        ['Could not load credentials from any providers', 1, 10],
        ['AccessDeniedException', 2, 15],
      ]);
    });

    test('GIVEN it keeps failing THEN the last error, after the bounded attempts', async () => {
      ssm.on(GetParameterCommand).rejects(new Error('ThrottlingException'));
      const onRetry = jest.fn();
      await expect(readBootEnv(boot, 'master', variables, clients(), onRetry, FAST)).rejects.toThrow(
        'ThrottlingException',
      );
      expect(onRetry).toHaveBeenCalledTimes(2);
      expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(3);
    });

    test('GIVEN a bad setting THEN its problem at once: a configuration error is not retried', async () => {
      ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'nonsense' } });
      const onRetry = jest.fn();
      const result = await readBootEnv(boot, 'master', variables, clients(), onRetry, FAST);
      expect(result.ok).toBe(false);
      expect(onRetry).not.toHaveBeenCalled();
      expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    });

    test('the default retry waits about 15 s in all before it gives up', () => {
      const { attempts, baseDelayMs, maxDelayMs } = BOOT_READ_RETRY;
      const waits = Array.from({ length: attempts - 1 }, (_, i) =>
        Math.min(maxDelayMs, baseDelayMs * 2 ** i),
      );
      expect(waits.reduce((a, b) => a + b, 0)).toBe(15_000);
    });
  });
});
