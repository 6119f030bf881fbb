/**
 * The media fleet's scaling metric. On AWS each media agent publishes, once a minute, how much of
 * its node is in use: `RtcHa/Media` `LoadPercent`, dimension `AutoScalingGroupName`. The fleet's
 * scaling policy (constructs/media-fleet) acts on the group's average, so the fleet grows with the
 * media it carries, not with the CPU of an idle agent.
 *
 * The value is the figure masters place sessions by: 100 × (1 − headroom), headroom being the
 * lesser of Janus's CPU headroom and the session headroom (media-node.ts). Janus's CPU is what
 * subscriber streams and bitrate cost (about 1.5 % of a core per 0.8 Mbps stream), so it binds
 * first on a node carrying media; sessions against `RTC_MEDIA_CAPACITY` bind on a node full of
 * small rooms. A node without Janus counts its sessions only. A node whose Janus is down or in its
 * post-restart quarantine has no headroom, so it counts as full: it takes no session then either.
 */
import { AutoScalingClient, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type Redis from 'ioredis';
import { Keys, NodeLoad, NodeLoadSchema, parseJsonOrUndefined } from '../contract';
import { parseBootEnv } from '../node/boot';
import type { Logger } from '../node/log';
import type { MediaConfig } from './config';

/** CloudWatch namespace of the media agents' metric; the media fleet's scaling policy reads the same names. */
export const LOAD_METRIC_NAMESPACE = 'RtcHa/Media';
export const LOAD_METRIC_NAME = 'LoadPercent';
/** The one dimension: each node's datapoints average into its group's figure. */
export const LOAD_METRIC_DIMENSION = 'AutoScalingGroupName';
/** One datapoint a minute: the scaling policy's period. */
export const LOAD_METRIC_INTERVAL_MS = 60_000;

/** The share of the node in use, in percent (0 to 100, one decimal), from its heartbeat's load. */
export function loadPercent(load: Pick<NodeLoad, 'sessions' | 'capacity' | 'media'>): number {
  const used = load.media ? 1 - load.media.headroom : load.sessions / load.capacity;
  return Math.round(Math.min(1, Math.max(0, used)) * 1000) / 10;
}

export interface LoadMetricClients {
  readonly cloudWatch: CloudWatchClient;
  readonly autoScaling: AutoScalingClient;
}

export interface LoadMetricOptions {
  /** The EC2 instance the agent runs on: its group is the metric's dimension. */
  readonly instanceId: string;
  /** The node's load now; undefined when unknown (no datapoint then). */
  readonly read: () => Promise<NodeLoad | undefined>;
  readonly clients: LoadMetricClients;
  readonly log: Logger;
  /** @default - the instance's group, from DescribeAutoScalingInstances */
  readonly groupName?: string;
  /** @default LOAD_METRIC_INTERVAL_MS */
  readonly intervalMs?: number;
}

/** Publishes {@link loadPercent} every interval; a failed round is logged once and retried next time. */
export class LoadMetricPublisher {
  private timer?: NodeJS.Timeout;
  private groupName?: string;
  private failing = false;

  constructor(private readonly options: LoadMetricOptions) {
    this.groupName = options.groupName;
  }

  start(): this {
    this.timer ??= setInterval(() => void this.publish(), this.options.intervalMs ?? LOAD_METRIC_INTERVAL_MS);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One datapoint; resolves with the value published, or undefined when none was. */
  async publish(): Promise<number | undefined> {
    const { clients, log } = this.options;
    try {
      const load = await this.options.read();
      if (!load) return undefined;
      const value = loadPercent(load);
      const groupName = (this.groupName ??= await this.findGroup());
      await clients.cloudWatch.send(
        new PutMetricDataCommand({
          Namespace: LOAD_METRIC_NAMESPACE,
          MetricData: [
            {
              MetricName: LOAD_METRIC_NAME,
              Dimensions: [{ Name: LOAD_METRIC_DIMENSION, Value: groupName }],
              Value: value,
              Unit: 'Percent',
            },
          ],
        }),
      );
      if (this.failing) log.info('load_metric_recovered', { value });
      this.failing = false;
      return value;
    } catch (err) {
      if (!this.failing) log.warn('load_metric_failed', { error: err });
      this.failing = true;
      return undefined;
    }
  }

  private async findGroup(): Promise<string> {
    const { instanceId, clients } = this.options;
    const { AutoScalingInstances } = await clients.autoScaling.send(
      new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
    );
    const groupName = AutoScalingInstances?.[0]?.AutoScalingGroupName;
    if (!groupName) throw new Error(`instance ${instanceId} is in no Auto Scaling group`);
    return groupName;
  }
}

/** The load of the node's last heartbeat, as the registry holds it and the masters read it. */
export async function heartbeatLoad(redis: Redis, keys: Keys, nodeId: string): Promise<NodeLoad | undefined> {
  const parsed = NodeLoadSchema.safeParse(
    parseJsonOrUndefined((await redis.hget(keys.node(nodeId), 'load')) ?? undefined),
  );
  return parsed.success ? parsed.data : undefined;
}

/**
 * Starts publishing the agent's load on AWS (boot mode: `RTC_BOOT_SETTINGS_PARAMETER` in `env`, with
 * its region); anywhere else it does nothing and returns undefined.
 */
export function startLoadMetric(
  config: MediaConfig,
  redis: Redis,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): LoadMetricPublisher | undefined {
  const boot = parseBootEnv(env);
  if (!boot.ok || !boot.config) return undefined;
  const { region } = boot.config;
  const keys = new Keys(config.keyPrefix);
  return new LoadMetricPublisher({
    instanceId: config.instanceId,
    read: () => heartbeatLoad(redis, keys, config.nodeId),
    clients: { cloudWatch: new CloudWatchClient({ region }), autoScaling: new AutoScalingClient({ region }) },
    log,
  }).start();
}
