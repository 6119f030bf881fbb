import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
// cdk-nag names an IAM5 finding after the flattened resource; the same function builds the id we acknowledge.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { Construct } from 'constructs';
import type { NodeRole } from '../../runtime/contract/registry';
import { DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { NodeImage } from '../node-image';
import { NodeSoftware, NodeSoftwareOptions } from '../node-software';
import { SessionStoreCluster } from '../session-store-cluster';
import { concrete, Problems } from '../shared/problems';
import { INSTANCE_TYPE, LOG_RETENTION_DAYS } from '../shared/patterns';
import { allowSessionManager } from '../shared/session-manager';

/** Options every rtc-ha fleet shares. */
export interface NodeFleetOptions {
  /**
   * EC2 instance types, the preferred first: the group launches the first type that has capacity
   * (on-demand, prioritized), so a shortage of one type does not block a replacement. Two to
   * {@link MAX_INSTANCE_TYPES}, all of one architecture (the node image's): Graviton (arm64) or x86_64.
   *
   * @default - set by each fleet
   */
  readonly instanceTypes?: ec2.InstanceType[];

  /**
   * Fewest instances.
   *
   * @default - set by each fleet
   */
  readonly minCapacity?: number;

  /**
   * Most instances; more than the fewest, so a rolling update can add a node before it removes one.
   *
   * @default - set by each fleet
   */
  readonly maxCapacity?: number;

  /**
   * Instances to run. Each deployment resets the group to it.
   *
   * @default - the fewest
   */
  readonly desiredCapacity?: number;

  /**
   * Size of the encrypted gp3 root volume, GiB (8 to 1024).
   *
   * @default 16
   */
  readonly volumeSizeGiB?: number;

  /**
   * Days the nodes' logs are kept in their log group: one of CloudWatch Logs' retention periods
   * (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288
   * or 3653). AWS Control Tower's CT.CLOUDWATCH.PR.2 asks for 365 or more.
   *
   * @default 365
   */
  readonly logRetentionDays?: number;
}

/** {@link NodeFleetOptions} with every default filled in; `desiredCapacity` unset means the fewest. */
export interface ResolvedNodeFleetOptions extends NodeFleetOptions {
  readonly instanceTypes: ec2.InstanceType[];
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly volumeSizeGiB: number;
  readonly logRetentionDays: number;
}

/** Props every rtc-ha fleet shares. */
export interface NodeFleetProps extends NodeFleetOptions {
  /** The VPC. */
  readonly vpc: ec2.IVpc;

  /** The session registry the nodes use; the fleet is let in to it. */
  readonly sessionStore: SessionStoreCluster;

  /**
   * The image the nodes boot: one with this fleet's runtime installed (`rtc-ha-node.sh install` with
   * the app of {@link NodeFleet.software}), for the architecture of `instanceTypes`, booting from /dev/xvda.
   *
   * @default - a {@link NodeImage} baked by EC2 Image Builder in this stack
   */
  readonly machineImage?: ec2.IMachineImage;

  /**
   * Runtime settings.
   *
   * @default - the defaults of {@link NodeSoftwareOptions}
   */
  readonly runtime?: NodeSoftwareOptions;

  /**
   * Topic for the group's launch and termination notifications (successes and errors).
   *
   * @default - no notifications
   */
  readonly notificationTopic?: sns.ITopic;

  /**
   * The customer managed key the nodes' log group is encrypted with; its key policy must let CloudWatch
   * Logs use it.
   *
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/** What a concrete fleet decides for its nodes. */
export interface NodeFleetSpec {
  /** The runtime the nodes run. */
  readonly role: NodeRole;
  /** The runtime's port. */
  readonly port: number;
  /** The fleet's options, defaults filled in by the fleet's resolver. */
  readonly options: ResolvedNodeFleetOptions;
  /** The group's minimum size: `minCapacity`, and for media the spare nodes too. */
  readonly floor: number;
  /** Role-specific `RTC_*` settings. */
  readonly environment?: Record<string, string>;
  /** Role-specific secret `RTC_*` settings. */
  readonly secrets?: Record<string, secretsmanager.ISecret>;
  /** Role-specific secret `RTC_*` settings in secrets made outside the stack: their complete ARNs. */
  readonly secretArns?: Record<string, string>;
}

/**
 * Name of the termination lifecycle hook of each group, which the runtime completes once drained
 * (`RTC_LIFECYCLE_HOOK_NAME`). A literal, not the hook's reference: the settings parameter must not
 * wait for the hook, which waits for the group, which waits for nodes that read the parameter.
 */
export const DRAIN_HOOK_NAME = 'rtc-ha-drain';

/** How long CloudFormation waits for each new node's readiness signal. */
export const SIGNAL_TIMEOUT = Duration.minutes(15);
/** A booting node has no heartbeat yet: Auto Scaling ignores its health this long. */
const HEALTH_CHECK_GRACE = Duration.seconds(DEFAULT_TIMINGS.asgHealthCheckGraceSeconds);

/**
 * Where each kind of node lives: masters in private subnets behind the load balancer, media nodes in
 * public subnets with public addresses for direct UDP reachability.
 */
const NODE_TRAITS: Record<NodeRole, { subnetType: ec2.SubnetType; publicAddress: boolean }> = {
  master: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, publicAddress: false },
  media: { subnetType: ec2.SubnetType.PUBLIC, publicAddress: true },
};

/** Most instances a fleet may have; a fleet's default `maxCapacity` stays within it. */
export const MAX_FLEET_CAPACITY = 1000;

/** Most instance types a fleet may list (Auto Scaling takes up to 40 launch template overrides). */
export const MAX_INSTANCE_TYPES = 20;

/** How the lowest allowed capacity of a fleet is named and computed. */
export interface CapacityFloor {
  /** The floor: the group's minimum size. */
  readonly value: number;
  /** How messages name it, e.g. `minCapacity + spareCapacity`. */
  readonly name: string;
}

/**
 * Fills in the defaults every fleet shares around the fleet's `own`: its instance type and capacity,
 * which each fleet resolves itself.
 */
export function resolveNodeFleetOptions(
  options: NodeFleetOptions,
  own: Pick<ResolvedNodeFleetOptions, 'instanceTypes' | 'minCapacity' | 'maxCapacity'>,
): ResolvedNodeFleetOptions {
  return {
    ...own,
    desiredCapacity: options.desiredCapacity,
    volumeSizeGiB: options.volumeSizeGiB ?? 16,
    logRetentionDays: options.logRetentionDays ?? 365,
  };
}

/** Lists the problems of the options every fleet shares, field names prefixed with `prefix`. */
export function checkNodeFleetOptions(
  options: ResolvedNodeFleetOptions,
  floor: CapacityFloor,
  prefix = '',
): string[] {
  const problems = new Problems(prefix);
  checkInstanceTypes(problems, options.instanceTypes);
  problems.integers(options, {
    maxCapacity: [1, MAX_FLEET_CAPACITY],
    desiredCapacity: [1, MAX_FLEET_CAPACITY],
    volumeSizeGiB: [8, 1024],
  });
  const retention = options.logRetentionDays;
  problems.require(
    Token.isUnresolved(retention) || LOG_RETENTION_DAYS.includes(retention),
    'logRetentionDays',
    `must be one of CloudWatch Logs' retention periods (${LOG_RETENTION_DAYS.join(', ')} days; got ${retention})`,
  );
  const { maxCapacity: max, desiredCapacity: desired } = options;
  problems.require(
    !concrete(floor.value, max) || max > floor.value,
    'maxCapacity',
    `must be greater than ${floor.name} (${max} <= ${floor.value}) so a rolling update can add a node before it removes one`,
  );
  problems.require(
    !concrete(floor.value, max, desired) || (desired! >= floor.value && desired! <= max),
    'desiredCapacity',
    `must be from ${floor.name} (${floor.value}) to maxCapacity (${max}); got ${desired}`,
  );
  return problems.messages;
}

/** Two to {@link MAX_INSTANCE_TYPES} distinct, valid instance types of one architecture. */
function checkInstanceTypes(problems: Problems, instanceTypes: readonly ec2.InstanceType[]): void {
  const names = instanceTypes.map(String);
  problems.require(
    names.length >= 2 && names.length <= MAX_INSTANCE_TYPES,
    'instanceTypes',
    `must list 2 to ${MAX_INSTANCE_TYPES} instance types, so that a shortage of one does not block a ` +
      `replacement (got ${names.length})`,
  );
  problems.require(new Set(names).size === names.length, 'instanceTypes', 'must not repeat a type');
  for (const name of names) {
    problems.matches('instanceTypes', name, INSTANCE_TYPE, 'EC2 instance types like c7g.medium');
  }
  const valid = instanceTypes.filter((t) => INSTANCE_TYPE.test(t.toString()));
  const architectures = new Set(valid.map((t) => t.architecture));
  problems.require(
    architectures.size <= 1,
    'instanceTypes',
    `must share one architecture, the node image's (got ${[...architectures].join(' and ')})`,
  );
}

/**
 * An Auto Scaling group of rtc-ha nodes, the common part of {@link MasterFleet} and {@link MediaFleet}:
 * a launch template (the node image, IMDSv2 required, encrypted gp3, detailed monitoring, user data
 * that only configures the installed runtime), an instance role with least privilege (Session Manager;
 * its own settings parameter and secrets; `SignalResource` on this stack; `CompleteLifecycleAction` on
 * its own group; writing to its own log group), a log group, a security group, EC2 health checks with a
 * grace period (the watchdog, not the load balancer, decides replacement: docs/architecture.md rule 2),
 * a rolling update that waits for each new node's readiness signal and never drops below the minimum,
 * and a termination lifecycle hook that holds a leaving node until it has drained, at most its drain
 * timeout.
 */
export abstract class NodeFleet extends Construct implements ec2.IConnectable, iam.IGrantable {
  /** The Auto Scaling group. */
  public readonly autoScalingGroup: autoscaling.AutoScalingGroup;

  /** The nodes' launch template. */
  public readonly launchTemplate: ec2.LaunchTemplate;

  /** The nodes' security group. */
  public readonly securityGroup: ec2.SecurityGroup;

  /** The nodes' instance role. */
  public readonly instanceRole: iam.Role;

  /** The software the nodes run: image assets, settings and user data. */
  public readonly software: NodeSoftware;

  /** Where the nodes' journal goes (runtime, boot and kernel streams per instance). */
  public readonly logGroup: logs.LogGroup;

  /** The termination hook that holds a leaving node until it has drained ({@link DRAIN_HOOK_NAME}). */
  public readonly drainHook: autoscaling.LifecycleHook;

  /** Network access to the nodes; the default port is the runtime's port. */
  public readonly connections: ec2.Connections;

  /** The nodes' principal. */
  public readonly grantPrincipal: iam.IPrincipal;

  /** The image pipeline that bakes the nodes' image; absent when `machineImage` is given. */
  public readonly image?: NodeImage;

  /** The runtime's port, which serves `GET /live` and `GET /ready`. */
  public readonly port: number;

  /** The group's minimum size. */
  public readonly minCapacity: number;

  protected constructor(scope: Construct, id: string, props: NodeFleetProps, spec: NodeFleetSpec) {
    super(scope, id);
    const { options } = spec;
    this.port = spec.port;
    this.minCapacity = spec.floor;
    const traits = NODE_TRAITS[spec.role];

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: options.logRetentionDays,
      encryptionKey: props.logEncryptionKey,
    });
    this.software = new NodeSoftware(this, 'Runtime', {
      ...props.runtime,
      role: spec.role,
      port: spec.port,
      logGroup: this.logGroup,
      environment: {
        RTC_REDIS_URL: props.sessionStore.url,
        RTC_LIFECYCLE_HOOK_NAME: DRAIN_HOOK_NAME,
        ...spec.environment,
      },
      secrets: {
        RTC_REDIS_AUTH_TOKEN: props.sessionStore.authToken,
        ...spec.secrets,
        ...Object.fromEntries(
          Object.entries(spec.secretArns ?? {}).map(([name, arn]) => [
            name,
            secretsmanager.Secret.fromSecretCompleteArn(this, name, arn),
          ]),
        ),
      },
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `rtc-ha ${spec.role} nodes`,
    });
    this.grantPrincipal = this.instanceRole;
    this.software.grantRead(this.instanceRole);
    this.logGroup.grantWrite(this.instanceRole);
    allowSessionManager(this, this.instanceRole);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `rtc-ha ${spec.role} nodes`,
      allowAllOutbound: true,
    });
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: ec2.Port.tcp(spec.port),
    });

    const { instanceTypes } = options;
    let machineImage = props.machineImage;
    if (!machineImage) {
      this.image = new NodeImage(this, 'Image', {
        vpc: props.vpc,
        role: spec.role,
        script: this.software.script,
        app: this.software.app,
        architecture: instanceTypes[0].architecture,
      });
      machineImage = this.image.machineImage;
    }
    // No instance type here: the group's overrides name them.
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage,
      userData: this.software.userData,
      role: this.instanceRole,
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      associatePublicIpAddress: traits.publicAddress || undefined,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(options.volumeSizeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const subnets = props.vpc.selectSubnets({ subnetType: traits.subnetType });
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Resource', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: traits.subnetType },
      mixedInstancesPolicy: {
        launchTemplate: this.launchTemplate,
        launchTemplateOverrides: instanceTypes.map((instanceType) => ({ instanceType })),
        // On-demand only, in the listed order: the next type is tried when the first has no capacity.
        instancesDistribution: {
          onDemandAllocationStrategy: autoscaling.OnDemandAllocationStrategy.PRIORITIZED,
          onDemandPercentageAboveBaseCapacity: 100,
        },
      },
      minCapacity: spec.floor,
      maxCapacity: options.maxCapacity,
      desiredCapacity: options.desiredCapacity,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: HEALTH_CHECK_GRACE }),
      cooldown: HEALTH_CHECK_GRACE,
      defaultInstanceWarmup: HEALTH_CHECK_GRACE,
      groupMetrics: [autoscaling.GroupMetrics.all()],
      notifications: props.notificationTopic ? [{ topic: props.notificationTopic }] : undefined,
      // Also grants cloudformation:SignalResource on this stack only.
      signals: autoscaling.Signals.waitForMinCapacity({ timeout: SIGNAL_TIMEOUT }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: spec.floor,
      }),
    });
    const cfnGroup = this.autoScalingGroup.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    // The subnets' zones, named too (as AWS Control Tower's CT.AUTOSCALING.PR.1 checks the group).
    cfnGroup.availabilityZones = subnets.availabilityZones;
    Validations.of(cfnGroup).acknowledge({
      id: 'AwsSolutions-EC26',
      reason:
        "cdk-nag's rule reads only a group's own LaunchTemplate and throws on a MixedInstancesPolicy. The launch " +
        "template's one volume is encrypted (gp3), which AWS Control Tower's CT.EC2.PR.14 checks in the tests.",
    });
    this.software.signalReadyTo(this.autoScalingGroup);

    // The timeout is the hard deadline: CONTINUE terminates a node that never completes the action.
    this.drainHook = this.autoScalingGroup.addLifecycleHook('Drain', {
      lifecycleHookName: DRAIN_HOOK_NAME,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: this.software.drainTimeout,
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });
    this.grantLeave();
    props.sessionStore.allowConnectionsFrom(this, `rtc-ha ${spec.role} nodes`);
  }

  /** Instances in service. */
  public metricInServiceInstances(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.groupMetric('AWS/AutoScaling', 'GroupInServiceInstances', {
      statistic: cloudwatch.Stats.MINIMUM,
      ...options,
    });
  }

  /** Average CPU utilization (%) of the group's instances. */
  public metricCpuUtilization(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.groupMetric('AWS/EC2', 'CPUUtilization', { statistic: cloudwatch.Stats.AVERAGE, ...options });
  }

  /** Lets `grantee` mark the group's instances unhealthy (`SetInstanceHealth`), as the watchdog does. */
  public grantSetInstanceHealth(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['autoscaling:SetInstanceHealth'],
      resourceArns: [this.autoScalingGroup.autoScalingGroupArn],
    });
  }

  /**
   * Lets the nodes complete the drain hook of their own group only, and find that group. A policy of its
   * own: naming the group makes CloudFormation create it after the group, which must not hold up what
   * booting needs (the group waits for its nodes' signals; nothing terminates before it exists).
   */
  private grantLeave(): void {
    const groupArn = this.autoScalingGroup.autoScalingGroupArn;
    const policy = new iam.Policy(this, 'LifecyclePolicy', {
      roles: [this.instanceRole],
      statements: [
        new iam.PolicyStatement({ actions: ['autoscaling:CompleteLifecycleAction'], resources: [groupArn] }),
        new iam.PolicyStatement({ actions: ['autoscaling:DescribeAutoScalingInstances'], resources: ['*'] }),
      ],
    });
    Validations.of(policy).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'autoscaling:DescribeAutoScalingInstances supports no resource-level permissions; it is read-only, and ' +
          'the runtime calls it to find the name of its own group before it completes the drain hook.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(this).resolve(groupArn))}]`,
        reason:
          "CompleteLifecycleAction is scoped to this fleet's own Auto Scaling group by name; the * stands for the " +
          "group's UUID, which CloudFormation does not expose.",
      },
    );
  }

  private groupMetric(
    namespace: string,
    metricName: string,
    options: cloudwatch.MetricOptions,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace,
      metricName,
      dimensionsMap: { AutoScalingGroupName: this.autoScalingGroup.autoScalingGroupName },
      period: Duration.minutes(1),
      ...options,
    });
  }
}
