import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { waitFor } from '../../../local/ports';
import { Imds } from '../../../runtime/node/imds';
import {
  TARGET_LIFECYCLE_STATE,
  boundedDrain,
  completeTermination,
  watchTermination,
} from '../../../runtime/node/lifecycle';
import { createLogger } from '../../../runtime/node/log';
import { signalResource, whenFirstReady } from '../../../runtime/node/signal';
import { ImdsStandIn, startImds } from '../../support/imds';

const INSTANCE = 'i-0123456789abcdef0';

function recording() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger('test', (line) => lines.push(JSON.parse(line))) };
}

describe('Imds against the IMDSv2 stand-in', () => {
  let imds: ImdsStandIn;
  beforeEach(async () => (imds = await startImds({ 'instance-id': INSTANCE })));
  afterEach(() => imds.close());

  test('GIVEN a token THEN values; a missing path is undefined (404), or an error with require', async () => {
    const client = new Imds(imds.endpoint);
    expect(await client.get('instance-id')).toBe(INSTANCE);
    expect(await client.get('public-ipv4')).toBeUndefined();
    await expect(client.require('public-ipv4')).rejects.toThrow('IMDS has no meta-data/public-ipv4');
  });

  test('GIVEN a GET without the token THEN the stand-in refuses it, as IMDSv2 does', async () => {
    expect((await fetch(`${imds.endpoint}/latest/meta-data/instance-id`)).status).toBe(401);
  });
});

describe('watchTermination', () => {
  let imds: ImdsStandIn;
  beforeEach(async () => (imds = await startImds({})));
  afterEach(() => imds.close());

  test('GIVEN no lifecycle state (404) then InService THEN nothing; Terminated THEN onTerminating once', async () => {
    const { lines, log } = recording();
    let terminating = 0;
    const stop = watchTermination({
      imds: new Imds(imds.endpoint),
      pollMs: 20,
      log,
      onTerminating: () => terminating++,
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      imds.set(TARGET_LIFECYCLE_STATE, 'InService');
      await new Promise((r) => setTimeout(r, 100));
      expect(terminating).toBe(0);
      imds.set(TARGET_LIFECYCLE_STATE, 'Terminated');
      await waitFor('onTerminating', () => terminating === 1, 2_000);
      await new Promise((r) => setTimeout(r, 100));
      expect(terminating).toBe(1);
      expect(lines.map((l) => l.event)).toEqual(['lifecycle_terminating']);
    } finally {
      stop();
    }
  });

  test('GIVEN IMDS away THEN one warning, and the watch goes on polling', async () => {
    const { lines, log } = recording();
    let terminating = 0;
    const stop = watchTermination({
      imds: new Imds('http://127.0.0.1:1', 200),
      pollMs: 20,
      log,
      onTerminating: () => terminating++,
    });
    await new Promise((r) => setTimeout(r, 200));
    stop();
    expect(lines.map((l) => l.event)).toEqual(['lifecycle_state_unreadable']);
    expect(terminating).toBe(0);
  });
});

describe('boundedDrain', () => {
  test('GIVEN a drain that ends THEN drained; one that hangs THEN cap after deadline + cap', async () => {
    expect(await boundedDrain(() => Promise.resolve(), 1_000, 1_000)).toBe('drained');
    const started = Date.now();
    expect(await boundedDrain(() => new Promise(() => undefined), 50, 50)).toBe('cap');
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});

describe('completeTermination (Auto Scaling mocked)', () => {
  const autoScaling = mockClient(AutoScalingClient);
  beforeEach(() => autoScaling.reset());

  test('GIVEN the instance in a group THEN CONTINUE for that group, hook and instance', async () => {
    autoScaling.on(DescribeAutoScalingInstancesCommand, { InstanceIds: [INSTANCE] }).resolves({
      AutoScalingInstances: [{ InstanceId: INSTANCE, AutoScalingGroupName: 'masters' } as never],
    });
    await completeTermination(new AutoScalingClient({ region: 'eu-west-1' }), 'drain-hook', INSTANCE);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)[0].args[0].input).toEqual({
      AutoScalingGroupName: 'masters',
      LifecycleHookName: 'drain-hook',
      InstanceId: INSTANCE,
      LifecycleActionResult: 'CONTINUE',
    });
  });

  test('GIVEN the hook does not hold the instance yet (still deregistering) THEN completing is retried until it does', async () => {
    autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [{ InstanceId: INSTANCE, AutoScalingGroupName: 'masters' } as never],
    });
    const notHeld = Object.assign(new Error('No active Lifecycle Action found with instance ID'), {
      name: 'ValidationError',
    });
    autoScaling.on(CompleteLifecycleActionCommand).rejectsOnce(notHeld).rejectsOnce(notHeld).resolves({});
    const client = new AutoScalingClient({ region: 'eu-west-1' });
    await completeTermination(client, 'drain-hook', INSTANCE, { everyMs: 10, forMs: 1_000 });
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(3);
  });

  test('GIVEN the hook never holds it THEN completing gives up after the retry window; other errors at once', async () => {
    autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [{ InstanceId: INSTANCE, AutoScalingGroupName: 'masters' } as never],
    });
    const notHeld = Object.assign(new Error('No active Lifecycle Action found'), { name: 'ValidationError' });
    autoScaling.on(CompleteLifecycleActionCommand).rejects(notHeld);
    const client = new AutoScalingClient({ region: 'eu-west-1' });
    await expect(
      completeTermination(client, 'drain-hook', INSTANCE, { everyMs: 10, forMs: 50 }),
    ).rejects.toThrow('No active Lifecycle Action found');
    const tries = autoScaling.commandCalls(CompleteLifecycleActionCommand).length;
    expect(tries).toBeGreaterThan(1);
    expect(tries).toBeLessThanOrEqual(6);

    autoScaling.reset();
    autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [{ InstanceId: INSTANCE, AutoScalingGroupName: 'masters' } as never],
    });
    autoScaling
      .on(CompleteLifecycleActionCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    await expect(
      completeTermination(client, 'drain-hook', INSTANCE, { everyMs: 10, forMs: 1_000 }),
    ).rejects.toThrow('denied');
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(1);
  });

  test('GIVEN the instance in no group THEN an error naming it, and nothing completed', async () => {
    autoScaling.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
    await expect(
      completeTermination(new AutoScalingClient({ region: 'eu-west-1' }), 'drain-hook', INSTANCE),
    ).rejects.toThrow(`instance ${INSTANCE} is in no Auto Scaling group`);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
  });
});

describe('signalResource and whenFirstReady (CloudFormation mocked)', () => {
  const cfn = mockClient(CloudFormationClient);
  beforeEach(() => cfn.reset());
  const target = { stack: 'RtcHa', resource: 'MastersAsg' };

  test('GIVEN SUCCESS THEN SignalResource with the instance id as UniqueId', async () => {
    const { lines, log } = recording();
    await signalResource(new CloudFormationClient({ region: 'eu-west-1' }), target, INSTANCE, 'SUCCESS', log);
    expect(cfn.commandCalls(SignalResourceCommand)[0].args[0].input).toEqual({
      StackName: 'RtcHa',
      LogicalResourceId: 'MastersAsg',
      UniqueId: INSTANCE,
      Status: 'SUCCESS',
    });
    expect(lines.map((l) => l.event)).toEqual(['cloudformation_signalled']);
  });

  test('GIVEN CloudFormation refusing THEN a warning, no throw', async () => {
    cfn.on(SignalResourceCommand).rejects(new Error('Resource MastersAsg is in CREATE_COMPLETE state'));
    const { lines, log } = recording();
    await signalResource(new CloudFormationClient({ region: 'eu-west-1' }), target, INSTANCE, 'FAILURE', log);
    expect(lines.map((l) => [l.event, l.status])).toEqual([['cloudformation_signal_failed', 'FAILURE']]);
  });

  test('GIVEN a node that turns ready THEN onReady runs once', async () => {
    let reasons = ['starting'];
    let ready = 0;
    const stop = whenFirstReady(
      () => reasons,
      () => ready++,
      10,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(ready).toBe(0);
    reasons = [];
    await waitFor('ready', () => ready === 1, 1_000);
    reasons = ['draining'];
    await new Promise((r) => setTimeout(r, 50));
    reasons = [];
    await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(ready).toBe(1);
  });
});
