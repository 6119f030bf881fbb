import { RegistryReader } from '../../../runtime/contract';
import { freePort, waitFor } from '../../../local/ports';
import { startNodeProcess } from '../../../local/node-process';
import { TARGET_LIFECYCLE_STATE } from '../../../runtime/node/lifecycle';
import { Api, TestRegistry, startRegistry } from '../master/support/harness';
import { AwsApiStandIn, startAwsApi } from '../../support/aws-api';
import { ImdsStandIn, startImds } from '../../support/imds';

/**
 * The real master entry in boot mode: settings from an SSM stand-in, secrets from a Secrets
 * Manager stand-in, identity from an IMDSv2 stand-in, a real redis-server.
 */
const INSTANCE = 'i-0bootmode000000001';
const API_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rtc-api-AbCdEf';
const CURRENT = 'current-api-secret-0123456789';
const PREVIOUS = 'previous-api-secret-0123456789';

let registry: TestRegistry;
let imds: ImdsStandIn;
let aws: AwsApiStandIn;

beforeAll(async () => (registry = await startRegistry('boot')));
afterAll(() => registry.stop());
beforeEach(async () => {
  imds = await startImds({ 'instance-id': INSTANCE, 'local-ipv4': '127.0.0.1' });
  aws = await startAwsApi();
  aws
    .on('secretsmanager.GetSecretValue', ({ VersionStage }) =>
      VersionStage === 'AWSPREVIOUS'
        ? { result: { SecretString: PREVIOUS } }
        : { result: { ARN: API_ARN, SecretString: CURRENT } },
    )
    .on('SignalResource', () => ({ result: '' }))
    .on('DescribeAutoScalingInstances', () => ({
      result:
        '<AutoScalingInstances><member><InstanceId>' +
        INSTANCE +
        '</InstanceId><AutoScalingGroupName>masters</AutoScalingGroupName></member></AutoScalingInstances>',
    }))
    .on('CompleteLifecycleAction', () => ({ result: '' }));
});
afterEach(async () => {
  await imds.close();
  await aws.close();
});

function bootEnv(port: number): Record<string, string> {
  return {
    RTC_PORT: String(port),
    RTC_BOOT_REGION: 'eu-west-1',
    RTC_BOOT_SETTINGS_PARAMETER: '/rtc-ha/master/settings',
    RTC_BOOT_SECRETS: `RTC_API_SECRET=${API_ARN}`,
    RTC_BOOT_SIGNAL_STACK: 'RtcHa',
    RTC_BOOT_SIGNAL_RESOURCE: 'MastersAsg',
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDBOOTTEST',
    AWS_SECRET_ACCESS_KEY: 'boot-test-secret',
  };
}

function settings(lines: string[]): void {
  aws.on('AmazonSSM.GetParameter', ({ Name }) => ({
    result: { Parameter: { Name, Type: 'String', Value: lines.join('\n') } },
  }));
}

test('GIVEN boot mode THEN ready with ip:port registered, signals SUCCESS, takes both secrets, and drains on the lifecycle hook', async () => {
  const port = await freePort();
  settings([
    `RTC_PORT=${port}`,
    `RTC_REDIS_URL=${registry.server.url}`,
    'RTC_KEY_PREFIX=boot',
    'RTC_HEARTBEAT_INTERVAL_MS=100',
    'RTC_HEARTBEAT_TTL_MS=1000',
    'RTC_DRAIN_DEADLINE_MS=2000',
    'RTC_LIFECYCLE_HOOK_NAME=drain-hook',
  ]);
  const master = await startNodeProcess({ kind: 'master', env: bootEnv(port) });
  try {
    const nodes = await new RegistryReader(registry.redis, 'boot', 1000).nodes('master');
    expect(nodes.map((n) => n.identity)).toEqual([
      expect.objectContaining({ nodeId: INSTANCE, instanceId: INSTANCE, address: `127.0.0.1:${port}` }),
    ]);
    await waitFor('SUCCESS signal', () => aws.calls.some((c) => c.target === 'SignalResource'), 5_000);
    expect(aws.calls.filter((c) => c.target === 'SignalResource').map((c) => c.input)).toEqual([
      expect.objectContaining({
        StackName: 'RtcHa',
        LogicalResourceId: 'MastersAsg',
        UniqueId: INSTANCE,
        Status: 'SUCCESS',
      }),
    ]);
    for (const secret of [CURRENT, PREVIOUS]) {
      expect((await new Api(master.url, secret).call('GET', '/v1/sessions/none')).status).toBe(404);
    }
    expect(
      (await new Api(master.url, 'some-other-secret-0123456789').call('GET', '/v1/sessions/none')).status,
    ).toBe(401);

    imds.set(TARGET_LIFECYCLE_STATE, 'Terminated');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect(aws.calls.find((c) => c.target === 'CompleteLifecycleAction')?.input).toEqual(
      expect.objectContaining({
        AutoScalingGroupName: 'masters',
        LifecycleHookName: 'drain-hook',
        InstanceId: INSTANCE,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    expect(master.events().map((e) => e.event)).toEqual(
      expect.arrayContaining([
        'lifecycle_terminating',
        'drain_started',
        'node_stopped',
        'lifecycle_completed',
      ]),
    );
    // It left: no live record (no work is placed on it); its identity stays for the watchdog.
    expect(await new RegistryReader(registry.redis, 'boot', 1000).nodes('master')).toEqual([
      expect.objectContaining({ expired: true, live: undefined }),
    ]);
  } finally {
    await master.stop(500);
  }
});

test('GIVEN the settings parameter failing at first (AWS 500s beyond the SDK retries) THEN the boot retries and succeeds, no FAILURE signal', async () => {
  const port = await freePort();
  let failures = 4;
  aws.on('AmazonSSM.GetParameter', ({ Name }) =>
    failures-- > 0
      ? { error: 'InternalServerError', status: 500, message: 'try again' }
      : {
          result: {
            Parameter: {
              Name,
              Type: 'String',
              Value: `RTC_PORT=${port}\nRTC_REDIS_URL=${registry.server.url}`,
            },
          },
        },
  );
  const master = await startNodeProcess({ kind: 'master', env: bootEnv(port) });
  try {
    expect(master.lines().join('\n')).toMatch(
      /rtc-master: reading the boot configuration failed \(attempt 1 of 5\): .*; trying again in 1 s/,
    );
    await waitFor('SUCCESS signal', () => aws.calls.some((c) => c.target === 'SignalResource'), 5_000);
    expect(aws.calls.filter((c) => c.target === 'SignalResource').map((c) => c.input.Status)).toEqual([
      'SUCCESS',
    ]);
  } finally {
    await master.stop(500);
  }
});

test('GIVEN settings the parser rejects THEN every problem, exit 2, and a FAILURE signal', async () => {
  const port = await freePort();
  settings([`RTC_PORT=${port}`, 'RTC_KEY_PREFIX={bad}', 'RTC_NODE_ID=sneaky']);
  const master = await startNodeProcess({ kind: 'master', env: bootEnv(port), waitUntil: 'spawned' });
  expect(await master.exited).toEqual({ code: 2, signal: null });
  expect(master.lines().join('\n')).toContain(
    'rtc-master: invalid configuration (1 problem):\n  - settings: RTC_NODE_ID comes from instance metadata',
  );
  expect(aws.calls.filter((c) => c.target === 'SignalResource').map((c) => c.input)).toEqual([
    expect.objectContaining({ UniqueId: INSTANCE, Status: 'FAILURE' }),
  ]);

  settings([`RTC_PORT=${port}`, 'RTC_KEY_PREFIX={bad}']);
  const again = await startNodeProcess({ kind: 'master', env: bootEnv(port), waitUntil: 'spawned' });
  expect(await again.exited).toEqual({ code: 2, signal: null });
  const output = again.lines().join('\n');
  expect(output).toContain('rtc-master: invalid configuration (2 problems)');
  expect(output).toMatch(/RTC_REDIS_URL: required/);
  expect(output).toMatch(/RTC_KEY_PREFIX: must match/);
});
