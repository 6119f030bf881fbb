import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeReplicationGroupsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { retrying, type RetryOptions as AwsRetryOptions } from '../aws/retry';
import type { NodeRole } from '../contract/registry';
import type { FleetObservation, InstanceObservation, NodeRef } from './core';
import type { Fleet, FleetSnapshot } from './watchdog';

/** One Auto Scaling group the watchdog watches. */
export interface AwsGroup {
  readonly role: NodeRole;
  readonly groupName: string;
  /** The load balancer's target group, for the target-health signal. */
  readonly targetGroupArn?: string;
  /**
   * Port of `GET /live` on the group's instances (the fleet's port): an overdue boot, which has no
   * registered address, is probed at its private address and this port.
   * @default - overdue boots are not probed; only their EC2 state and target health count
   */
  readonly port?: number;
}

export interface AwsClients {
  readonly autoScaling: AutoScalingClient;
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly elastiCache: ElastiCacheClient;
}

/** Retries of each call; unset fields keep the defaults. */
export type RetryOptions = Partial<AwsRetryOptions>;
const DEFAULT_RETRY: AwsRetryOptions = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 };

export interface AwsFleetOptions {
  readonly groups: readonly AwsGroup[];
  /** The session store's replication group; its status is a safety rail. */
  readonly replicationGroupId?: string;
  readonly clients: AwsClients;
  readonly retry?: RetryOptions;
}

/**
 * Clients for the AWS adapter. Retries live in one place, the adapter (throttling and transient
 * errors, bounded per call), so the SDK's own retry is off and calls time out well within a cycle.
 */
export function createAwsClients(region?: string): AwsClients {
  const config = {
    region,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  };
  return {
    autoScaling: new AutoScalingClient(config),
    ec2: new EC2Client(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    elastiCache: new ElastiCacheClient(config),
  };
}

/**
 * Auto Scaling groups, EC2 instance state and private address, target health and the replication
 * group, read-only, plus SetInstanceHealth.
 */
export class AwsFleet implements Fleet {
  constructor(private readonly options: AwsFleetOptions) {}

  async observe(): Promise<FleetSnapshot> {
    const [groups, instances, targets, replicationGroupStatus] = await Promise.all([
      this.describeGroups(),
      this.describeInstances(),
      this.describeTargets(),
      this.describeReplicationGroup(),
    ]);
    const fleets = this.options.groups.map((group): FleetObservation => {
      const members = groups.get(group.groupName);
      if (!members) throw new Error(`Auto Scaling group ${group.groupName} not found`);
      const targetStates = group.targetGroupArn ? targets.get(group.targetGroupArn) : undefined;
      return {
        role: group.role,
        groupName: group.groupName,
        port: group.port,
        instances: members.map(({ InstanceId = '', LifecycleState, HealthStatus }): InstanceObservation => {
          const ec2 = instances.get(InstanceId);
          return {
            instanceId: InstanceId,
            lifecycleState: LifecycleState ?? 'Unknown',
            healthStatus: HealthStatus === 'Unhealthy' ? 'Unhealthy' : 'Healthy',
            launchedAt: ec2?.LaunchTime?.getTime(),
            instanceState: ec2?.State?.Name,
            targetHealth: targetStates?.get(InstanceId),
            privateAddress: ec2?.PrivateIpAddress,
          };
        }),
      };
    });
    return { fleets, replicationGroupStatus };
  }

  /** SetInstanceHealth Unhealthy: the group terminates and replaces the instance. */
  async markUnhealthy(node: NodeRef): Promise<void> {
    await this.retrying(() =>
      this.options.clients.autoScaling.send(
        new SetInstanceHealthCommand({
          InstanceId: node.instanceId,
          HealthStatus: 'Unhealthy',
          ShouldRespectGracePeriod: true,
        }),
      ),
    );
  }

  private async describeGroups() {
    const AutoScalingGroupNames = this.options.groups.map((g) => g.groupName);
    const groups = await this.pages(async (NextToken) => {
      const page = await this.options.clients.autoScaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames, NextToken }),
      );
      return { items: page.AutoScalingGroups, next: page.NextToken };
    });
    return new Map(groups.map((g) => [g.AutoScalingGroupName, g.Instances ?? []]));
  }

  /** The groups' instances by the tag Auto Scaling puts on them (a filter never fails on a gone instance). */
  private async describeInstances(): Promise<Map<string, Instance>> {
    const Filters = [
      { Name: 'tag:aws:autoscaling:groupName', Values: this.options.groups.map((g) => g.groupName) },
    ];
    const instances = await this.pages(async (NextToken) => {
      const page = await this.options.clients.ec2.send(
        new DescribeInstancesCommand({ Filters, MaxResults: 1000, NextToken }),
      );
      return { items: page.Reservations?.flatMap((r) => r.Instances ?? []), next: page.NextToken };
    });
    return new Map(instances.map((i) => [i.InstanceId ?? '', i]));
  }

  /** Target states by target group and instance id; an instance unhealthy on any port counts as unhealthy. */
  private async describeTargets(): Promise<Map<string, Map<string, string>>> {
    const arns = [
      ...new Set(this.options.groups.flatMap((g) => (g.targetGroupArn ? [g.targetGroupArn] : []))),
    ];
    const entries = await Promise.all(
      arns.map(async (TargetGroupArn) => {
        const { TargetHealthDescriptions = [] } = await this.retrying(() =>
          this.options.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn })),
        );
        const states = new Map<string, string>();
        for (const { Target, TargetHealth } of TargetHealthDescriptions) {
          const id = Target?.Id ?? '';
          if (states.get(id) !== 'unhealthy') states.set(id, TargetHealth?.State ?? 'unknown');
        }
        return [TargetGroupArn, states] as const;
      }),
    );
    return new Map(entries);
  }

  private async describeReplicationGroup(): Promise<string | undefined> {
    const ReplicationGroupId = this.options.replicationGroupId;
    if (!ReplicationGroupId) return undefined;
    const { ReplicationGroups = [] } = await this.retrying(() =>
      this.options.clients.elastiCache.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId })),
    );
    return ReplicationGroups[0]?.Status ?? 'not found';
  }

  private async pages<T>(
    fetchPage: (token: string | undefined) => Promise<{ items?: T[]; next?: string }>,
  ): Promise<T[]> {
    const all: T[] = [];
    let token: string | undefined;
    do {
      const page = await this.retrying(() => fetchPage(token));
      all.push(...(page.items ?? []));
      token = page.next;
    } while (token);
    return all;
  }

  private retrying<T>(call: () => Promise<T>): Promise<T> {
    return retrying(call, { ...DEFAULT_RETRY, ...this.options.retry });
  }
}
