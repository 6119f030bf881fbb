import * as path from 'node:path';
import { Annotations, ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
// cdk-nag names an IAM5 finding after the flattened resource; the same function builds the id we acknowledge.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { Construct } from 'constructs';
import type { NodeRole } from '../../runtime/contract/registry';
import { DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { DEFAULT_POLICY, type FleetPolicy } from '../../runtime/watchdog/core';
import { settingsEnvironment } from '../../runtime/watchdog/settings';
import { METRIC_NAMESPACE, METRICS } from '../../runtime/watchdog/telemetry';
import type { ClusterAlarms } from '../alarms';
import { checkNodeSoftwareOptions, resolveNodeSoftwareOptions } from '../node-software';
import { concrete, FieldNames, Problems, throwIfProblems } from '../shared/problems';

/** What the watchdog needs of a fleet; {@link NodeFleet} has all of it. */
export interface IWatchedFleet extends ec2.IConnectable {
  /** The group whose instances the watchdog marks Unhealthy (it must use EC2 health checks). */
  readonly autoScalingGroup: autoscaling.IAutoScalingGroup;
  /** The load balancer target group the fleet registers in, if any: target health is one second signal. */
  readonly targetGroup?: elbv2.ITargetGroup;
  /** Port of `GET /live` on the instances; the watchdog is let in on it and nowhere else. */
  readonly port: number;
  /** The group's minimum size: the majority rail must still let a fleet this small replace a node. */
  readonly minCapacity: number;
  /** Lets `grantee` mark the group's instances unhealthy (`SetInstanceHealth`). */
  grantSetInstanceHealth(grantee: iam.IGrantable): iam.Grant;
}

/** How the watchdog judges one fleet; the defaults are the role's `DEFAULT_POLICY` of runtime/watchdog. */
export interface WatchdogPolicyOptions {
  /**
   * Most nodes of this fleet flagged per cycle, 1 to 100.
   * @default 1
   */
  readonly maxFlagsPerCycle?: number;
  /**
   * Nodes launched less than this long ago are left alone.
   * @default - the fleets' health check grace, `DEFAULT_TIMINGS.asgHealthCheckGraceSeconds` (120 s)
   */
  readonly gracePeriod?: Duration;
  /**
   * Flag only while more than this share of the fleet has a fresh heartbeat, at least 0 and below 1.
   * @default - 0.5 for masters (a strict majority), 0.4 for media (at least half)
   */
  readonly minHealthyShare?: number;
}

/** A fleet the watchdog may flag nodes of, and how it judges them. */
export interface WatchedFleet extends WatchdogPolicyOptions {
  /** The fleet. */
  readonly fleet: IWatchedFleet;
}

/** The ElastiCache replication group that holds the registry. */
export interface WatchedSessionStore {
  /** Its status is a safety rail: nothing is flagged unless it is `available`. */
  readonly replicationGroupId: string;
  /** Primary endpoint address. */
  readonly endpointAddress: string;
  /** TLS port of the store. */
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

/** The part of {@link FleetWatchdogProps} that deployment config sets. */
export interface FleetWatchdogOptions {
  /**
   * How masters are judged.
   * @default - the defaults of {@link WatchdogPolicyOptions} for masters
   */
  readonly masters?: WatchdogPolicyOptions;
  /**
   * How media nodes are judged.
   * @default - the defaults of {@link WatchdogPolicyOptions} for media nodes
   */
  readonly media?: WatchdogPolicyOptions;
  /**
   * Registry key prefix: the nodes' `RTC_KEY_PREFIX`.
   * @default - the nodes' default, `DEFAULT_KEY_PREFIX` of runtime/contract ('rtc')
   */
  readonly keyPrefix?: string;
  /**
   * Time between cycles within one scheduled run, whole seconds from 1 to 30.
   * @default - `DEFAULT_TIMINGS.watchdogAwsCycleMs` of runtime/contract (5 s)
   */
  readonly cycle?: Duration;
  /**
   * A hold that lasts this long raises the hold alarm, whole minutes from 1 to 60.
   * @default Duration.minutes(3)
   */
  readonly holdAlarmAfter?: Duration;
}

/** {@link FleetWatchdogOptions} with every default filled in; the policies as the handler takes them. */
export interface ResolvedFleetWatchdogOptions {
  readonly masters: FleetPolicy;
  readonly media: FleetPolicy;
  readonly keyPrefix: string;
  readonly cycle: Duration;
  readonly holdAlarmAfter: Duration;
}

/** Props of {@link FleetWatchdog}. */
export interface FleetWatchdogProps extends FleetWatchdogOptions {
  /** The VPC the function runs in. */
  readonly vpc: ec2.IVpc;
  /**
   * Where the function runs: it must reach the registry, the nodes and the AWS APIs.
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The registry the nodes heartbeat to. */
  readonly sessionStore: WatchedSessionStore;
  /** The masters, and how they are judged. */
  readonly masters: WatchedFleet;
  /**
   * Media nodes, and how they are judged.
   * @default - media nodes are not watched
   */
  readonly media?: WatchedFleet;
  /** Where the watchdog adds its alarms (errors, a lasting hold, each flag, no run), which notify on ALARM and OK. */
  readonly alarms: ClusterAlarms;
  /**
   * Retention of the function's log group. AWS Control Tower's CT.CLOUDWATCH.PR.2 asks for a year or more.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The customer managed key the function's log group is encrypted with; its key policy must let
   * CloudWatch Logs use it.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/** How props, messages and warnings name each role's fleet. */
const FLEETS = {
  master: { field: 'masters', nodes: 'masters', warning: 'rtc-ha:watchdogCannotReplaceMasters' },
  media: { field: 'media', nodes: 'media nodes', warning: 'rtc-ha:watchdogCannotReplaceMedia' },
} as const;

/** `options` with every default filled in: what {@link FleetWatchdog} builds and its check checks. */
export function resolveFleetWatchdogOptions(
  options: FleetWatchdogOptions = {},
): ResolvedFleetWatchdogOptions {
  const policy = (role: NodeRole): FleetPolicy => {
    const given = options[FLEETS[role].field];
    const defaults = DEFAULT_POLICY[role];
    return {
      maxFlagsPerCycle: given?.maxFlagsPerCycle ?? defaults.maxFlagsPerCycle,
      graceMs: given?.gracePeriod?.toMilliseconds() ?? defaults.graceMs,
      minHealthyShare: given?.minHealthyShare ?? defaults.minHealthyShare,
    };
  };
  return {
    masters: policy('master'),
    media: policy('media'),
    keyPrefix: resolveNodeSoftwareOptions({ keyPrefix: options.keyPrefix }).keyPrefix,
    cycle: options.cycle ?? Duration.millis(DEFAULT_TIMINGS.watchdogAwsCycleMs),
    holdAlarmAfter: options.holdAlarmAfter ?? Duration.minutes(3),
  };
}

/**
 * Lists every problem of `options`, field names prefixed with `prefix` and renamed by `names` (the
 * deployment config names some fields its own way, e.g. `cycleSeconds`).
 */
export function checkFleetWatchdogOptions(
  options: FleetWatchdogOptions,
  prefix = '',
  names: FieldNames = {},
): string[] {
  const resolved = resolveFleetWatchdogOptions(options);
  const problems = new Problems(prefix, names);
  problems.duration('cycle', resolved.cycle, 'seconds', 1, 30);
  problems.duration('holdAlarmAfter', resolved.holdAlarmAfter, 'minutes', 1, 60);
  for (const role of ['master', 'media'] as const) {
    const { field } = FLEETS[role];
    const { maxFlagsPerCycle, minHealthyShare: share } = resolved[field];
    problems.integer(`${field}.maxFlagsPerCycle`, maxFlagsPerCycle, 1, 100);
    problems.require(
      Token.isUnresolved(share) || (share >= 0 && share < 1),
      `${field}.minHealthyShare`,
      `must be at least 0 and below 1 (got ${share})`,
    );
  }
  return [...problems.messages, ...checkNodeSoftwareOptions({ keyPrefix: options.keyPrefix }, prefix)];
}

/**
 * The health-check watchdog (docs/architecture.md rules 2 and 3): a Lambda function in the VPC, started
 * every minute, that loops every `cycle` until shortly before its timeout, finds crashed or hung
 * nodes by two independent signals and marks them Unhealthy in their Auto Scaling group, behind
 * the safety rails of runtime/watchdog. One run at a time: each run takes a lock in Redis first (no
 * reserved concurrency, which a new account's low Lambda concurrency quota may not allow). Flagging
 * rights come from each fleet's `grantSetInstanceHealth`, the alarms from `ClusterAlarms.addAlarm`, and
 * synth warns when a fleet's minimum capacity leaves the majority rail no node to replace.
 */
export class FleetWatchdog extends Construct implements ec2.IConnectable {
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

  constructor(scope: Construct, id: string, props: FleetWatchdogProps) {
    super(scope, id);
    throwIfProblems('FleetWatchdog props', checkFleetWatchdogOptions(props));
    const options = resolveFleetWatchdogOptions(props);
    const fleets = watchedFleets(props);
    const store = props.sessionStore;
    this.warnAboutMajorityRail(options, fleets);

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: false,
      description: 'rtc-ha watchdog: out to the registry, the nodes /live and the AWS APIs; nothing in',
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (HTTPS)');
    this.connections = new ec2.Connections({ securityGroups: [securityGroup] });
    store.connections.connections.allowFrom(this, ec2.Port.tcp(store.port), 'watchdog reads the registry');
    for (const { fleet } of fleets) {
      fleet.connections.connections.allowFrom(this, ec2.Port.tcp(fleet.port), 'watchdog probes /live');
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.logEncryptionKey,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'rtc-ha watchdog: reads the fleets, flags their instances, reads the registry AUTH token',
    });
    this.allow(role, store, fleets);

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
            keyPrefix: options.keyPrefix,
            replicationGroupId: store.replicationGroupId,
            cycleMs: options.cycle.toMilliseconds(),
            groups: fleets.map(({ role: r, fleet }) => ({
              role: r,
              groupName: fleet.autoScalingGroup.autoScalingGroupName,
              targetGroupArn: fleet.targetGroup?.targetGroupArn,
              // Where a node that never registered is probed (/live at its private address).
              port: fleet.port,
            })),
            policy: { master: options.masters, media: options.media },
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

    const alarm = (
      alarmId: string,
      metric: cloudwatch.Metric,
      evaluationPeriods: number,
      alarmDescription: string,
    ): cloudwatch.Alarm =>
      props.alarms.addAlarm(
        alarmId,
        {
          metric,
          threshold: 1,
          evaluationPeriods,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription,
        },
        this,
      );
    this.errorsAlarm = alarm(
      'ErrorsAlarm',
      this.lambdaFunction.metricErrors({ period: Duration.minutes(1) }),
      1,
      'The rtc-ha watchdog failed: a cycle could not observe the fleet or a flag could not be applied. See its log.',
    );
    const holdMinutes = options.holdAlarmAfter.toMinutes();
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
    this.notRunningAlarm = props.alarms.addAlarm(
      'NotRunningAlarm',
      {
        metric: this.lambdaFunction.metricInvocations({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        evaluationPeriods: NOT_RUNNING_MINUTES,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `The rtc-ha watchdog has not run for ${NOT_RUNNING_MINUTES} minutes (schedule disabled, throttled, or deleted): crashed nodes are not being replaced. Look now.`,
      },
      this,
    );
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

  /**
   * The majority rail (docs/architecture.md rule 3) flags only while more than `minHealthyShare` of a
   * fleet is healthy: a fleet at its minimum size must keep that share with one node dead.
   */
  private warnAboutMajorityRail(options: ResolvedFleetWatchdogOptions, fleets: readonly RoleFleet[]): void {
    const masterShare = options.masters.minHealthyShare;
    if (concrete(masterShare) && masterShare < 0.5) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:watchdogMinorityFlagging',
        'masters.minHealthyShare is below 0.5: the watchdog may flag masters without a healthy majority left',
      );
    }
    for (const { role, fleet } of fleets) {
      const { field, nodes, warning } = FLEETS[role];
      const share = options[field].minHealthyShare;
      const n = fleet.minCapacity;
      if (!concrete(n, share) || (n - 1) / n > share) continue;
      Annotations.of(this).addWarningV2(
        warning,
        `With ${n} ${nodes} the watchdog never flags a dead one: ${n - 1} of ${n} healthy is not more than ` +
          `${field}.minHealthyShare ${share} (docs/architecture.md rule 3). ` +
          `Give the ${nodes} a minimum capacity of ${Math.floor(1 / (1 - share)) + 1} or more.`,
      );
    }
  }

  /** Least privilege: everything scoped to this stack's groups, replication group and secret where AWS allows it. */
  private allow(role: iam.Role, store: WatchedSessionStore, fleets: readonly RoleFleet[]): void {
    this.logGroup.grantWrite(role);
    store.authToken.grantRead(role);
    for (const { fleet } of fleets) fleet.grantSetInstanceHealth(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationGroupStatus',
        actions: ['elasticache:DescribeReplicationGroups'],
        resources: [
          Stack.of(this).formatArn({
            service: 'elasticache',
            resource: 'replicationgroup',
            resourceName: store.replicationGroupId,
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
    for (const { fleet } of fleets) {
      const arn = fleet.autoScalingGroup.autoScalingGroupArn;
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
  readonly fleet: IWatchedFleet;
}

function watchedFleets(props: FleetWatchdogProps): RoleFleet[] {
  const fleets: RoleFleet[] = [{ role: 'master', fleet: props.masters.fleet }];
  if (props.media) fleets.push({ role: 'media', fleet: props.media.fleet });
  return fleets;
}
