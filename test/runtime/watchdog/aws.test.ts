import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceHealthCommand,
  type AutoScalingGroupsType,
  type LifecycleState,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, type DescribeInstancesResult } from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeReplicationGroupsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { isRetryable } from '../../../runtime/aws/retry';
import { AwsFleet, type AwsGroup } from '../../../runtime/watchdog/aws';

const autoScaling = mockClient(AutoScalingClient);
const ec2 = mockClient(EC2Client);
const elbv2 = mockClient(ElasticLoadBalancingV2Client);
const elastiCache = mockClient(ElastiCacheClient);

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/masters/0123456789abcdef';
const GROUPS: AwsGroup[] = [
  { role: 'master', groupName: 'cluster-masters', targetGroupArn: TG, port: 8080 },
  { role: 'media', groupName: 'cluster-media', port: 9090 },
];
/** Private IPv4 addresses DescribeInstances reports; i-m2 (stopped) has none. */
const PRIVATE_IPS: Record<string, string> = { 'i-m1': '10.0.1.17', 'i-d1': '10.0.4.23' };
const LAUNCHED = new Date('2026-01-01T10:00:00Z');

function fleet(groups: AwsGroup[] = GROUPS, replicationGroupId: string | null = 'rtc-store') {
  return new AwsFleet({
    groups,
    replicationGroupId: replicationGroupId ?? undefined,
    clients: {
      autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
      ec2: new EC2Client({ region: 'us-east-1' }),
      elbv2: new ElasticLoadBalancingV2Client({ region: 'us-east-1' }),
      elastiCache: new ElastiCacheClient({ region: 'us-east-1' }),
    },
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  });
}

function throttled(name = 'Throttling'): Error {
  return Object.assign(new Error('Rate exceeded'), { name, $metadata: { httpStatusCode: 400 } });
}

const member = (
  InstanceId: string,
  HealthStatus = 'Healthy',
  LifecycleState: LifecycleState = 'InService',
) => ({
  InstanceId,
  HealthStatus,
  LifecycleState,
  AvailabilityZone: 'us-east-1a',
  ProtectedFromScaleIn: false,
});

function groupsPage(names: string[], NextToken?: string): AutoScalingGroupsType {
  return {
    AutoScalingGroups: names.map((name) => ({
      AutoScalingGroupName: name,
      MinSize: 1,
      MaxSize: 3,
      DesiredCapacity: 2,
      DefaultCooldown: 300,
      AvailabilityZones: ['us-east-1a'],
      HealthCheckType: 'EC2',
      CreatedTime: LAUNCHED,
      Instances:
        name === 'cluster-masters' ? [member('i-m1'), member('i-m2', 'Unhealthy')] : [member('i-d1')],
    })),
    NextToken,
  };
}

function instancesPage(ids: string[], NextToken?: string): DescribeInstancesResult {
  return {
    Reservations: [
      {
        Instances: ids.map((InstanceId) => ({
          InstanceId,
          LaunchTime: LAUNCHED,
          State: { Name: InstanceId === 'i-m2' ? 'stopped' : 'running', Code: 16 },
          PrivateIpAddress: PRIVATE_IPS[InstanceId],
        })),
      },
    ],
    NextToken,
  };
}

beforeEach(() => {
  autoScaling.reset();
  ec2.reset();
  elbv2.reset();
  elastiCache.reset();
  elbv2.on(DescribeTargetHealthCommand).resolves({
    TargetHealthDescriptions: [
      { Target: { Id: 'i-m1', Port: 8080 }, TargetHealth: { State: 'healthy' } },
      { Target: { Id: 'i-m2', Port: 8080 }, TargetHealth: { State: 'unhealthy' } },
    ],
  });
  elastiCache
    .on(DescribeReplicationGroupsCommand, { ReplicationGroupId: 'rtc-store' })
    .resolves({ ReplicationGroups: [{ ReplicationGroupId: 'rtc-store', Status: 'available' }] });
});

describe('AwsFleet.observe', () => {
  test('reads both groups across pages, joins EC2 state, launch time, private address, target health, the port and the replication group', async () => {
    const AutoScalingGroupNames = ['cluster-masters', 'cluster-media'];
    autoScaling
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames, NextToken: undefined })
      .resolves(groupsPage(['cluster-masters'], 'page-2'))
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames, NextToken: 'page-2' })
      .resolves(groupsPage(['cluster-media']));
    const Filters = [{ Name: 'tag:aws:autoscaling:groupName', Values: AutoScalingGroupNames }];
    ec2
      .on(DescribeInstancesCommand, { Filters, MaxResults: 1000, NextToken: undefined })
      .resolves(instancesPage(['i-m1', 'i-m2'], 'ec2-2'))
      .on(DescribeInstancesCommand, { Filters, MaxResults: 1000, NextToken: 'ec2-2' })
      .resolves(instancesPage(['i-d1']));

    const snapshot = await fleet().observe();

    expect(autoScaling).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 2);
    expect(autoScaling).toHaveReceivedNthSpecificCommandWith(2, DescribeAutoScalingGroupsCommand, {
      AutoScalingGroupNames,
      NextToken: 'page-2',
    });
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(elbv2).toHaveReceivedCommandTimes(DescribeTargetHealthCommand, 1);
    expect(elbv2).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: TG });
    expect(elastiCache).toHaveReceivedCommandTimes(DescribeReplicationGroupsCommand, 1);
    expect(elastiCache).toHaveReceivedCommandWith(DescribeReplicationGroupsCommand, {
      ReplicationGroupId: 'rtc-store',
    });
    expect(snapshot).toEqual({
      replicationGroupStatus: 'available',
      fleets: [
        {
          role: 'master',
          groupName: 'cluster-masters',
          port: 8080,
          instances: [
            {
              instanceId: 'i-m1',
              lifecycleState: 'InService',
              healthStatus: 'Healthy',
              launchedAt: LAUNCHED.getTime(),
              instanceState: 'running',
              targetHealth: 'healthy',
              privateAddress: '10.0.1.17',
            },
            {
              instanceId: 'i-m2',
              lifecycleState: 'InService',
              healthStatus: 'Unhealthy',
              launchedAt: LAUNCHED.getTime(),
              instanceState: 'stopped',
              targetHealth: 'unhealthy',
              privateAddress: undefined,
            },
          ],
        },
        {
          role: 'media',
          groupName: 'cluster-media',
          port: 9090,
          instances: [
            {
              instanceId: 'i-d1',
              lifecycleState: 'InService',
              healthStatus: 'Healthy',
              launchedAt: LAUNCHED.getTime(),
              instanceState: 'running',
              targetHealth: undefined,
              privateAddress: '10.0.4.23',
            },
          ],
        },
      ],
    });
  });

  test('throttled calls are retried, then succeed', async () => {
    autoScaling
      .on(DescribeAutoScalingGroupsCommand)
      .rejectsOnce(throttled())
      .resolves(groupsPage(['cluster-masters', 'cluster-media']));
    ec2
      .on(DescribeInstancesCommand)
      .rejectsOnce(throttled('RequestLimitExceeded'))
      .resolves(instancesPage(['i-m1']));
    elastiCache
      .on(DescribeReplicationGroupsCommand)
      .rejectsOnce(throttled())
      .resolves({ ReplicationGroups: [{ Status: 'modifying' }] });

    const snapshot = await fleet().observe();

    expect(autoScaling).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 2);
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(elastiCache).toHaveReceivedCommandTimes(DescribeReplicationGroupsCommand, 2);
    expect(snapshot.replicationGroupStatus).toBe('modifying');
  });

  test('throttling that outlasts the attempts fails the observation (the cycle then flags nothing)', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).rejects(throttled());
    ec2.on(DescribeInstancesCommand).resolves(instancesPage([]));

    await expect(fleet().observe()).rejects.toThrow('Rate exceeded');
    expect(autoScaling).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 3);
  });

  test('an access error is not retried', async () => {
    const denied = Object.assign(new Error('not authorized'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    autoScaling.on(DescribeAutoScalingGroupsCommand).rejects(denied);
    ec2.on(DescribeInstancesCommand).resolves(instancesPage([]));

    await expect(fleet().observe()).rejects.toThrow('not authorized');
    expect(autoScaling).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 1);
  });

  test('a configured group that does not exist is an error, not an empty fleet', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves(groupsPage(['cluster-masters']));
    ec2.on(DescribeInstancesCommand).resolves(instancesPage([]));

    await expect(fleet().observe()).rejects.toThrow('Auto Scaling group cluster-media not found');
  });

  test('without a replication group or target group, neither is asked; without a port, none is reported', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves(groupsPage(['cluster-media']));
    ec2.on(DescribeInstancesCommand).resolves(instancesPage(['i-d1']));

    const snapshot = await fleet([{ role: 'media', groupName: 'cluster-media' }], null).observe();

    expect(snapshot.replicationGroupStatus).toBeUndefined();
    expect(snapshot.fleets[0].port).toBeUndefined();
    expect(elastiCache).not.toHaveReceivedAnyCommand();
    expect(elbv2).not.toHaveReceivedAnyCommand();
  });
});

describe('AwsFleet.markUnhealthy', () => {
  test('sends SetInstanceHealth Unhealthy for the instance, respecting the grace period', async () => {
    autoScaling.on(SetInstanceHealthCommand).resolves({});

    await fleet().markUnhealthy({ role: 'master', groupName: 'cluster-masters', instanceId: 'i-m1' });

    expect(autoScaling).toHaveReceivedCommandTimes(SetInstanceHealthCommand, 1);
    expect(autoScaling).toHaveReceivedCommandWith(SetInstanceHealthCommand, {
      InstanceId: 'i-m1',
      HealthStatus: 'Unhealthy',
      ShouldRespectGracePeriod: true,
    });
    expect(autoScaling).not.toHaveReceivedCommand(DescribeAutoScalingGroupsCommand);
  });

  test('a throttled SetInstanceHealth is retried', async () => {
    autoScaling.on(SetInstanceHealthCommand).rejectsOnce(throttled()).resolves({});

    await fleet().markUnhealthy({ role: 'master', groupName: 'cluster-masters', instanceId: 'i-m1' });

    expect(autoScaling).toHaveReceivedCommandTimes(SetInstanceHealthCommand, 2);
  });
});

describe('isRetryable', () => {
  test.each([
    [throttled('Throttling'), true],
    [throttled('ThrottlingException'), true],
    [throttled('RequestLimitExceeded'), true],
    [Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }), true],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('no'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }), false],
    ['a string', false],
  ])('%p -> %p', (err, expected) => {
    expect(isRetryable(err)).toBe(expected);
  });
});
