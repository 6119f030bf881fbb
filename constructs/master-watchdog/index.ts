import * as path from 'node:path';
import { Annotations, ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
// cdk-nag names an IAM5 finding after the flattened resource; the same function builds the id we acknowledge.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { Construct } from 'constructs';
import { KEY_PREFIX_PATTERN } from '../../runtime/contract/keys';
import type { NodeRole } from '../../runtime/contract/registry';
import { DEFAULT_PORTS, DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { DEFAULT_POLICY, type FleetPolicy } from '../../runtime/watchdog/core';
import { settingsEnvironment } from '../../runtime/watchdog/settings';
import { METRIC_NAMESPACE, METRICS } from '../../runtime/watchdog/telemetry';

/** A fleet of nodes the watchdog may flag for replacement. */
export interface WatchedFleet {
  /** The group whose instances the watchdog marks Unhealthy (it must use EC2 health checks). */
  readonly autoScalingGroup: autoscaling.IAutoScalingGroup;
  /** The fleet's security groups; the watchdog is let in on `livePort` and nowhere else. */
  readonly connections: ec2.IConnectable;
  /**
   * The load balancer target group the fleet registers in: target health is one second signal.
   * @default - no target health signal
   */
  readonly targetGroup?: elbv2.ITargetGroup;
  /**
   * Port of `GET /live` on the instances.
   * @default DEFAULT_PORTS of the role (8080 masters, 9090 media)
   */
  readonly livePort?: number;
  /**
   * Most nodes of this fleet flagged per cycle.
   * @default 1
   */
  readonly maxFlagsPerCycle?: number;
  /**
   * Nodes launched less than this long ago are left alone.
   * @default Duration.seconds(DEFAULT_TIMINGS.asgHealthCheckGraceSeconds) (120 s)
   */
  readonly gracePeriod?: Duration;
  /**
   * Flag only while more than this share of the fleet has a fresh heartbeat, 0 to 1 (exclusive).
   * @default DEFAULT_POLICY of the role: 0.5 for masters (a strict majority), 0.4 for media (at least half)
   */
  readonly minHealthyShare?: number;
}

/** The ElastiCache replication group that holds the registry. */
export interface WatchedSessionStore {
  /** Its status is a safety rail: nothing is flagged unless it is `available`. */
  readonly replicationGroupId: string;
  /** Primary endpoint address. */
  readonly endpointAddress: string;
  readonly port: number;
  /** The store's security groups; the watchdog is let in on `port`. */
  readonly connections: ec2.IConnectable;
  /** The AUTH token; the watchdog may read this secret and no other. */
  readonly authToken: secretsmanager.ISecret;
  /**
   * JSON field of the secret that holds the token.
   * @default - the whole secret string is the token
   */
  readonly authTokenField?: string;
}

export interface MasterWatchdogProps {
  readonly vpc: ec2.IVpc;
  /**
   * Where the function runs: it must reach the registry, the nodes and the AWS APIs.
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly sessionStore: WatchedSessionStore;
  readonly masters: WatchedFleet;
  /**
   * Media nodes, watched with their own policy.
   * @default - media nodes are not watched
   */
  readonly media?: WatchedFleet;
  /** Receives the alarms: errors, a lasting hold, each flag, and the watchdog not running. */
  readonly alarmTopic: sns.ITopic;
  /**
   * Registry key prefix (RTC_KEY_PREFIX of the nodes).
   * @default 'rtc'
   */
  readonly keyPrefix?: string;
  /**
   * Time between cycles within one scheduled run, 1 to 30 s.
   * @default Duration.millis(DEFAULT_TIMINGS.watchdogAwsCycleMs) (5 s)
   */
  readonly cycle?: Duration;
  /**
   * A hold that lasts this long raises the hold alarm (whole minutes, 1 to 60).
   * @default Duration.minutes(3)
   */
  readonly holdAlarmAfter?: Duration;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The health-check watchdog (docs/architecture.md rules 2 and 3): a Lambda function in the VPC, started
 * every minute, that loops every `cycle` until shortly before its timeout, finds crashed or hung
 * nodes by two independent signals and marks them Unhealthy in their Auto Scaling group, behind
 * the safety rails of runtime/watchdog. One run at a time: each run takes a lock in Redis first (no
 * reserved concurrency, which a new account's low Lambda concurrency quota may not allow).
 */
export class MasterWatchdog extends Construct implements ec2.IConnectable {
  /** The watchdog function (one run at a time, by the run lock). */
  public readonly lambdaFunction: nodejs.NodejsFunction;
  /** The function's security group: no inbound rule; out to Redis, the fleets' /live and HTTPS. */
  public readonly connections: ec2.Connections;
  /** The EventBridge rule that starts a run every minute. */
  public readonly schedule: events.Rule;
  /** Where the decision lines and the embedded metrics go. */
  public readonly logGroup: logs.LogGroup;
  /** The function failed: a cycle could not observe, or a flag could not be applied. */
  public readonly errorsAlarm: cloudwatch.Alarm;
  /** A safety rail held every cycle for `holdAlarmAfter`: the operator must look. */
  public readonly holdAlarm: cloudwatch.Alarm;
  /** A node was flagged for replacement (the failover trap). */
  public readonly flagAlarm: cloudwatch.Alarm;
  /** The dead man's switch: no run started for a few minutes, so nothing is watched. */
  public readonly notRunningAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MasterWatchdogProps) {
    super(scope, id);
    checkProps(props);
    const fleets = watchedFleets(props);
    const store = props.sessionStore;
    const cycle = props.cycle ?? Duration.millis(DEFAULT_TIMINGS.watchdogAwsCycleMs);

    if ((props.masters.minHealthyShare ?? DEFAULT_POLICY.master.minHealthyShare) < 0.5) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:watchdogMinorityFlagging',
        'masters.minHealthyShare is below 0.5: the watchdog may flag masters without a healthy majority left',
      );
    }

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: false,
      description: 'rtc-ha watchdog: out to the registry, the nodes /live and the AWS APIs; nothing in',
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (HTTPS)');
    this.connections = new ec2.Connections({ securityGroups: [securityGroup] });
    store.connections.connections.allowFrom(this, ec2.Port.tcp(store.port), 'watchdog reads the registry');
    for (const { role, fleet } of fleets) {
      fleet.connections.connections.allowFrom(
        this,
        ec2.Port.tcp(livePort(role, fleet)),
        'watchdog probes /live',
      );
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'rtc-ha watchdog: reads the fleets, flags their instances, reads the registry AUTH token',
    });
    this.allow(role, props, fleets);

    this.lambdaFunction = new nodejs.NodejsFunction(this, 'Resource', {
      entry: path.join(__dirname, 'handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.minutes(DEFAULT_TIMINGS.watchdogScheduleMinutes),
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
      role,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [securityGroup],
      logGroup: this.logGroup,
      description: 'rtc-ha watchdog: flags crashed master and media nodes for replacement',
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        ...settingsEnvironment(
          {
            redisUrl: `rediss://${store.endpointAddress}:${Token.asString(store.port)}`,
            authSecretArn: store.authToken.secretArn,
            authSecretField: store.authTokenField,
            keyPrefix: props.keyPrefix ?? 'rtc',
            replicationGroupId: store.replicationGroupId,
            cycleMs: cycle.toMilliseconds(),
            groups: fleets.map(({ role: r, fleet }) => ({
              role: r,
              groupName: fleet.autoScalingGroup.autoScalingGroupName,
              targetGroupArn: fleet.targetGroup?.targetGroupArn,
            })),
            policy: {
              master: fleetPolicy('master', props.masters),
              media: fleetPolicy('media', props.media),
            },
          },
          (value) => Stack.of(this).toJsonString(value),
        ),
      },
      bundling: { sourceMap: true, externalModules: ['@aws-sdk/*'] },
    });

    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Starts the rtc-ha watchdog run every minute',
      schedule: events.Schedule.rate(Duration.minutes(DEFAULT_TIMINGS.watchdogScheduleMinutes)),
      targets: [
        new targets.LambdaFunction(this.lambdaFunction, {
          retryAttempts: 0,
          maxEventAge: Duration.minutes(1),
        }),
      ],
    });

    const notify = new cloudwatchActions.SnsAction(props.alarmTopic);
    const alarm = (
      alarmId: string,
      metric: cloudwatch.Metric,
      evaluationPeriods: number,
      alarmDescription: string,
    ) => {
      const created = metric.createAlarm(this, alarmId, {
        threshold: 1,
        evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription,
      });
      created.addAlarmAction(notify);
      return created;
    };
    this.errorsAlarm = alarm(
      'ErrorsAlarm',
      this.lambdaFunction.metricErrors({ period: Duration.minutes(1) }),
      1,
      'The rtc-ha watchdog failed: a cycle could not observe the fleet or a flag could not be applied. See its log.',
    );
    const holdMinutes = (props.holdAlarmAfter ?? Duration.minutes(3)).toMinutes();
    this.holdAlarm = alarm(
      'HoldAlarm',
      this.metricHolds({ statistic: cloudwatch.Stats.MINIMUM }),
      holdMinutes,
      `A watchdog safety rail has held every cycle for ${holdMinutes} minutes (registry unreachable, replication group not available, or no healthy majority): crashed nodes are not being replaced. Look now.`,
    );
    this.flagAlarm = alarm(
      'FlagAlarm',
      this.metricFlags(),
      1,
      'The rtc-ha watchdog flagged a node for replacement; its log line names the instance and the signals.',
    );
    // Missing data is the very failure here (no invocation, no datapoint), so it breaches.
    this.notRunningAlarm = this.lambdaFunction
      .metricInvocations({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'NotRunningAlarm', {
        threshold: 1,
        evaluationPeriods: NOT_RUNNING_MINUTES,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `The rtc-ha watchdog has not run for ${NOT_RUNNING_MINUTES} minutes (schedule disabled, throttled, or deleted): crashed nodes are not being replaced. Look now.`,
      });
    this.notRunningAlarm.addAlarmAction(notify);
    this.notRunningAlarm.addOkAction(notify);
  }

  /** Nodes flagged for replacement (sum per minute). */
  metricFlags(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.flags, props);
  }

  /** Nodes with one signal only (sum per minute). */
  metricSuspects(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.suspects, props);
  }

  /** Hold decisions per cycle (sum per minute; the minimum is above 0 while every cycle holds). */
  metricHolds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.holds, props);
  }

  /** Runs that did nothing because another run held the lock (sum per minute). */
  metricSkippedRuns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.skippedRuns, props);
  }

  /** How long a cycle takes (average per minute). */
  metricCycleDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.cycleDuration, { statistic: cloudwatch.Stats.AVERAGE, ...props });
  }

  private metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { FunctionName: this.lambdaFunction.functionName },
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  /** Least privilege: everything scoped to this stack's groups, replication group and secret where AWS allows it. */
  private allow(role: iam.Role, props: MasterWatchdogProps, fleets: readonly RoleFleet[]): void {
    this.logGroup.grantWrite(role);
    props.sessionStore.authToken.grantRead(role);
    const groupArns = fleets.map(({ fleet }) => fleet.autoScalingGroup.autoScalingGroupArn);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FlagOwnGroupsOnly',
        actions: ['autoscaling:SetInstanceHealth'],
        resources: groupArns,
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationGroupStatus',
        actions: ['elasticache:DescribeReplicationGroups'],
        resources: [
          Stack.of(this).formatArn({
            service: 'elasticache',
            resource: 'replicationgroup',
            resourceName: props.sessionStore.replicationGroupId,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadFleetState',
        actions: [
          'autoscaling:DescribeAutoScalingGroups',
          'ec2:DescribeInstances',
          'elasticloadbalancing:DescribeTargetHealth',
        ],
        resources: ['*'],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LambdaVpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'autoscaling:DescribeAutoScalingGroups, ec2:DescribeInstances, elasticloadbalancing:DescribeTargetHealth and the ' +
        'Lambda VPC network-interface actions support no resource-level permissions; all are read-only or ENI management.',
    });
    for (const arn of groupArns) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(this).resolve(arn))}]`,
        reason:
          "SetInstanceHealth is scoped to this stack's Auto Scaling group by name; the * stands for the group's " +
          'UUID, which CloudFormation does not expose.',
      });
    }
  }
}

/** A run starts every minute: three minutes without one is no late schedule. */
const NOT_RUNNING_MINUTES = 3;

interface RoleFleet {
  readonly role: NodeRole;
  readonly fleet: WatchedFleet;
}

function watchedFleets(props: MasterWatchdogProps): RoleFleet[] {
  const fleets: RoleFleet[] = [{ role: 'master', fleet: props.masters }];
  if (props.media) fleets.push({ role: 'media', fleet: props.media });
  return fleets;
}

function livePort(role: NodeRole, fleet: WatchedFleet): number {
  return fleet.livePort ?? DEFAULT_PORTS[role];
}

function fleetPolicy(role: NodeRole, fleet: WatchedFleet | undefined): FleetPolicy {
  const defaults = DEFAULT_POLICY[role];
  return {
    maxFlagsPerCycle: fleet?.maxFlagsPerCycle ?? defaults.maxFlagsPerCycle,
    graceMs: fleet?.gracePeriod?.toMilliseconds() ?? defaults.graceMs,
    minHealthyShare: fleet?.minHealthyShare ?? defaults.minHealthyShare,
  };
}

/** Every problem of the props in one error, each naming its prop; unresolved tokens are skipped. */
function checkProps(props: MasterWatchdogProps): void {
  const problems: string[] = [];
  const resolved = (value: number | undefined): value is number =>
    value !== undefined && !Token.isUnresolved(value);
  const cycle = props.cycle;
  if (cycle && !cycle.isUnresolved() && (cycle.toMilliseconds() < 1_000 || cycle.toMilliseconds() > 30_000)) {
    problems.push(`cycle must be between 1 and 30 seconds, got ${cycle.toHumanString()}`);
  }
  const hold = props.holdAlarmAfter;
  if (hold && !hold.isUnresolved()) {
    const minutes = hold.toSeconds() / 60;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
      problems.push(`holdAlarmAfter must be whole minutes from 1 to 60, got ${hold.toHumanString()}`);
    }
  }
  if (
    props.keyPrefix !== undefined &&
    !Token.isUnresolved(props.keyPrefix) &&
    !KEY_PREFIX_PATTERN.test(props.keyPrefix)
  ) {
    problems.push(`keyPrefix must match ${KEY_PREFIX_PATTERN}, got ${JSON.stringify(props.keyPrefix)}`);
  }
  for (const [name, fleet] of [
    ['masters', props.masters],
    ['media', props.media],
  ] as const) {
    if (!fleet) continue;
    const { maxFlagsPerCycle, minHealthyShare, livePort: port } = fleet;
    if (resolved(maxFlagsPerCycle) && (!Number.isInteger(maxFlagsPerCycle) || maxFlagsPerCycle < 1)) {
      problems.push(`${name}.maxFlagsPerCycle must be a whole number of at least 1, got ${maxFlagsPerCycle}`);
    }
    if (resolved(minHealthyShare) && !(minHealthyShare >= 0 && minHealthyShare < 1)) {
      problems.push(`${name}.minHealthyShare must be at least 0 and below 1, got ${minHealthyShare}`);
    }
    if (resolved(port) && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      problems.push(`${name}.livePort must be a port number (1-65535), got ${port}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`MasterWatchdog: invalid props:\n  - ${problems.join('\n  - ')}`);
  }
}
