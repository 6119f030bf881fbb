import { AutoScalingClient, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type Redis from 'ioredis';
import { Keys } from '../../../runtime/contract/keys';
import { createRedis, untilReady } from '../../../runtime/contract/redis';
import { NodeLoad, NodeRegistration } from '../../../runtime/contract/registry';
import { startRedisServer, type RedisServer } from '../../../local/redis-server';
import { mediaConfigFromEnv } from '../../../runtime/media/config';
import {
  heartbeatLoad,
  LoadMetricPublisher,
  loadPercent,
  startLoadMetric,
} from '../../../runtime/media/load-metric';
import type { Logger } from '../../../runtime/node/log';

const cloudWatch = mockClient(CloudWatchClient);
const autoScaling = mockClient(AutoScalingClient);

const MEDIA = {
  rooms: 2,
  publishers: 2,
  subscribers: 6,
  bitrateIn: 1.6e6,
  bitrateOut: 4.8e6,
  janusCpu: 0.14,
};
const load = (overrides: Partial<NodeLoad> = {}): NodeLoad => ({
  cpu: 0.2,
  sessions: 10,
  connections: 8,
  capacity: 100,
  ...overrides,
});

describe('loadPercent', () => {
  it.each<[string, Partial<NodeLoad>, number]>([
    ['an idle node without Janus', { sessions: 0, media: undefined }, 0],
    ['sessions against capacity when the node runs no Janus', { sessions: 25 }, 25],
    // Janus at 14 % of the machine against its 70 % ceiling: a fifth used, the binding constraint.
    ['the used share of the headroom masters place by', { media: { ...MEDIA, headroom: 0.8 } }, 20],
    ['one decimal', { media: { ...MEDIA, headroom: 0.12345 } }, 87.7],
    [
      'a node with no headroom (Janus down or quarantined) as full',
      { media: { ...MEDIA, headroom: 0 } },
      100,
    ],
    ['never above 100 %', { sessions: 150 }, 100],
  ])('counts %s', (_, overrides, percent) => {
    expect(loadPercent(load(overrides))).toBe(percent);
  });
});

describe('LoadMetricPublisher', () => {
  const warnings: string[] = [];
  const log: Logger = { info: () => {}, warn: (msg) => void warnings.push(msg), error: () => {} };
  const publisher = (read: () => Promise<NodeLoad | undefined>, groupName?: string) =>
    new LoadMetricPublisher({
      instanceId: 'i-0123456789abcdef0',
      read,
      groupName,
      log,
      clients: {
        cloudWatch: new CloudWatchClient({ region: 'eu-west-1' }),
        autoScaling: new AutoScalingClient({ region: 'eu-west-1' }),
      },
    });

  beforeEach(() => {
    cloudWatch.reset();
    autoScaling.reset();
    warnings.length = 0;
    autoScaling
      .on(DescribeAutoScalingInstancesCommand, { InstanceIds: ['i-0123456789abcdef0'] })
      .resolves({ AutoScalingInstances: [{ AutoScalingGroupName: 'RtcHa-MediaASG' } as never] });
    cloudWatch.on(PutMetricDataCommand).resolves({});
  });

  it('puts RtcHa/Media LoadPercent under its own group, which it looks up once', async () => {
    // GIVEN a node at 20 % of its headroom
    const p = publisher(async () => load({ media: { ...MEDIA, headroom: 0.8 } }));
    // WHEN it publishes twice
    expect(await p.publish()).toBe(20);
    expect(await p.publish()).toBe(20);
    // THEN
    expect(cloudWatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 2);
    expect(cloudWatch).toHaveReceivedCommandWith(PutMetricDataCommand, {
      Namespace: 'RtcHa/Media',
      MetricData: [
        {
          MetricName: 'LoadPercent',
          Dimensions: [{ Name: 'AutoScalingGroupName', Value: 'RtcHa-MediaASG' }],
          Value: 20,
          Unit: 'Percent',
        },
      ],
    });
    expect(autoScaling).toHaveReceivedCommandTimes(DescribeAutoScalingInstancesCommand, 1);
  });

  it('takes a given group name without asking Auto Scaling', async () => {
    await publisher(async () => load(), 'given-group').publish();
    expect(autoScaling).not.toHaveReceivedAnyCommand();
    expect(cloudWatch).toHaveReceivedCommandWith(PutMetricDataCommand, {
      MetricData: [
        expect.objectContaining({ Dimensions: [{ Name: 'AutoScalingGroupName', Value: 'given-group' }] }),
      ],
    });
  });

  it('publishes nothing while the load is unknown', async () => {
    expect(await publisher(async () => undefined).publish()).toBeUndefined();
    expect(cloudWatch).not.toHaveReceivedAnyCommand();
  });

  it('logs a failing round once, keeps trying, and finds the group once it is there', async () => {
    // GIVEN an instance not in its group yet, then CloudWatch refusing
    autoScaling.reset();
    autoScaling
      .on(DescribeAutoScalingInstancesCommand)
      .resolvesOnce({ AutoScalingInstances: [] })
      .resolves({ AutoScalingInstances: [{ AutoScalingGroupName: 'late' } as never] });
    cloudWatch.reset();
    cloudWatch.on(PutMetricDataCommand).rejectsOnce(new Error('Throttling')).resolves({});
    const p = publisher(async () => load());
    // WHEN
    const values = [await p.publish(), await p.publish(), await p.publish()];
    // THEN
    expect(values).toEqual([undefined, undefined, 10]);
    expect(warnings).toEqual(['load_metric_failed']);
    expect(cloudWatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 2);
  });

  it('publishes every interval once started, and no more once stopped', async () => {
    jest.useFakeTimers();
    try {
      const p = publisher(async () => load(), 'g').start();
      await jest.advanceTimersByTimeAsync(180_000);
      expect(cloudWatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 3);
      p.stop();
      await jest.advanceTimersByTimeAsync(180_000);
      expect(cloudWatch).toHaveReceivedCommandTimes(PutMetricDataCommand, 3);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('on a media node', () => {
  let server: RedisServer;
  let redis: Redis;
  const keys = new Keys('lm');

  beforeAll(async () => {
    server = await startRedisServer();
    redis = await untilReady(createRedis({ url: server.url }));
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("reads the load of the node's last heartbeat, as the masters see it", async () => {
    // GIVEN a heartbeat written by the registry's own code
    const beat = load({ media: { ...MEDIA, headroom: 0.5 } });
    const identity = {
      nodeId: 'm1',
      role: 'media' as const,
      instanceId: 'i-m1',
      address: '10.0.0.5:9090',
      version: 'test',
      startedAt: Date.now(),
    };
    await new NodeRegistration(redis, identity, 'lm').heartbeat({ state: 'active', load: beat });
    // THEN
    expect(await heartbeatLoad(redis, keys, 'm1')).toEqual(beat);
    expect(await heartbeatLoad(redis, keys, 'never-beat')).toBeUndefined();
  });

  it('starts only in boot mode, that is on AWS', () => {
    const parsed = mediaConfigFromEnv({ RTC_REDIS_URL: server.url, RTC_NODE_ID: 'm1' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const log: Logger = { info: () => {}, warn: () => {}, error: () => {} };
    expect(startLoadMetric(parsed.config, redis, log, {})).toBeUndefined();
    const onAws = startLoadMetric(parsed.config, redis, log, {
      RTC_BOOT_REGION: 'eu-west-1',
      RTC_BOOT_SETTINGS_PARAMETER: '/rtc-ha/media',
    });
    expect(onAws).toBeInstanceOf(LoadMetricPublisher);
    onAws?.stop();
  });
});
