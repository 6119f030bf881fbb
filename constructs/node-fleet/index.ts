import { Duration, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { NodeRole, NodeRuntime, NodeRuntimeOptions, READY_TIMEOUT_SECONDS } from '../node-runtime';
import { SessionStore } from '../session-store';
import { HEALTH_CHECK_GRACE_SECONDS } from '../shared/defaults';
import { concrete, Problems } from '../shared/problems';

/** Options every rtc-ha fleet shares. */
export interface NodeFleetOptions {
  /**
   * EC2 instance type; Graviton (arm64) and x86_64 types both work.
   *
   * @default - set by each fleet
   */
  readonly instanceType?: ec2.InstanceType;

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
}

/** Props every rtc-ha fleet shares. */
export interface NodeFleetProps extends NodeFleetOptions {
  /** The VPC. */
  readonly vpc: ec2.IVpc;

  /** The session registry the nodes use; the fleet is let in to it. */
  readonly sessionStore: SessionStore;

  /** The REST API secret (`RTC_API_SECRET`). */
  readonly apiSecret: secretsmanager.ISecret;

  /**
   * Runtime settings.
   *
   * @default - the defaults of {@link NodeRuntimeOptions}
   */
  readonly runtime?: NodeRuntimeOptions;

  /**
   * Topic for the group's launch and termination notifications (successes and errors).
   *
   * @default - no notifications
   */
  readonly notificationTopic?: sns.ITopic;
}

/** What a concrete fleet decides for its nodes. */
export interface NodeFleetSpec {
  /** The runtime the nodes run. */
  readonly role: NodeRole;
  /** The runtime's port. */
  readonly port: number;
  /** The group's resolved capacity. */
  readonly capacity: { readonly min: number; readonly max: number; readonly desired?: number };
  /** Role-specific `RTC_*` settings. */
  readonly environment?: Record<string, string>;
}

/**
 * Where each kind of node lives: masters in private subnets behind the load balancer, media nodes in
 * public subnets with public addresses for direct UDP reachability.
 */
const NODE_TRAITS: Record<
  NodeRole,
  { instanceType: string; subnetType: ec2.SubnetType; publicAddress: boolean }
> = {
  master: { instanceType: 't4g.small', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, publicAddress: false },
  media: { instanceType: 'c7g.large', subnetType: ec2.SubnetType.PUBLIC, publicAddress: true },
};

/** Valid EC2 instance type names, e.g. `t4g.small`, `c7gn.2xlarge`, `m7i.metal-24xl`. */
const INSTANCE_TYPE =
  /^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal|metal-[1-9][0-9]*xl)$/;

/** How the lowest allowed capacity of a fleet is named and computed. */
export interface CapacityFloor {
  /** The floor: the group's minimum size. */
  readonly value: number;
  /** How messages name it, e.g. `minCapacity + spareCapacity`. */
  readonly name: string;
}

/** Lists the problems of the options every fleet shares, field names prefixed with `prefix`. */
export function checkNodeFleetOptions(
  options: NodeFleetOptions,
  floor: CapacityFloor,
  prefix = '',
): string[] {
  const problems = new Problems(prefix);
  problems.matches(
    'instanceType',
    options.instanceType?.toString(),
    INSTANCE_TYPE,
    'an EC2 instance type like t4g.small',
  );
  problems.integers(options, {
    maxCapacity: [1, 1000],
    desiredCapacity: [1, 1000],
    volumeSizeGiB: [8, 1024],
  });
  const { maxCapacity: max, desiredCapacity: desired } = options;
  problems.require(
    !concrete(floor.value, max) || max! > floor.value,
    'maxCapacity',
    `must be greater than ${floor.name} (${max} <= ${floor.value}) so a rolling update can add a node before it removes one`,
  );
  problems.require(
    !concrete(floor.value, max, desired) || (desired! >= floor.value && desired! <= max!),
    'desiredCapacity',
    `must be from ${floor.name} (${floor.value}) to maxCapacity (${max}); got ${desired}`,
  );
  return problems.messages;
}

/**
 * An Auto Scaling group of rtc-ha nodes, the common part of {@link MasterFleet} and {@link MediaFleet}:
 * a launch template (Amazon Linux 2023 from its public SSM parameter, IMDSv2 required, encrypted gp3,
 * detailed monitoring), an instance role with SSM Session Manager and read access to only the runtime's
 * own objects, parameter and secrets, a security group, EC2 health checks with a grace period (the
 * watchdog, not the load balancer, decides replacement: ARCHITECTURE.md rule 2), and a rolling update
 * that waits for each new node's `GET /ready` and never drops below the minimum.
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

  /** The runtime the nodes install at boot. */
  public readonly runtime: NodeRuntime;

  /** Network access to the nodes; the default port is the runtime's port. */
  public readonly connections: ec2.Connections;

  /** The nodes' principal. */
  public readonly grantPrincipal: iam.IPrincipal;

  /** The runtime's port, which serves `GET /live` and `GET /ready`. */
  public readonly port: number;

  /** The group's minimum size. */
  public readonly minCapacity: number;

  protected constructor(scope: Construct, id: string, props: NodeFleetProps, spec: NodeFleetSpec) {
    super(scope, id);
    this.port = spec.port;
    this.minCapacity = spec.capacity.min;
    const traits = NODE_TRAITS[spec.role];

    this.runtime = new NodeRuntime(this, 'Runtime', {
      ...props.runtime,
      role: spec.role,
      port: spec.port,
      environment: { RTC_REDIS_URL: props.sessionStore.url, ...spec.environment },
      secrets: { RTC_REDIS_AUTH_TOKEN: props.sessionStore.authToken, RTC_API_SECRET: props.apiSecret },
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `rtc-ha ${spec.role} nodes`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason:
        'The AWS-maintained policy for SSM Session Manager, which replaces SSH keys on the nodes; its ' +
        'ssmmessages/ec2messages actions have no resource-level scoping to write a narrower policy with.',
    });
    this.grantPrincipal = this.instanceRole;
    this.runtime.grantRead(this.instanceRole);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `rtc-ha ${spec.role} nodes`,
      allowAllOutbound: true,
    });
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: ec2.Port.tcp(spec.port),
    });

    const instanceType = props.instanceType ?? new ec2.InstanceType(traits.instanceType);
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType:
          instanceType.architecture === ec2.InstanceArchitecture.ARM_64
            ? ec2.AmazonLinuxCpuType.ARM_64
            : ec2.AmazonLinuxCpuType.X86_64,
      }),
      userData: this.runtime.userData,
      role: this.instanceRole,
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      associatePublicIpAddress: traits.publicAddress || undefined,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.volumeSizeGiB ?? 16, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Resource', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: traits.subnetType },
      launchTemplate: this.launchTemplate,
      minCapacity: spec.capacity.min,
      maxCapacity: spec.capacity.max,
      desiredCapacity: spec.capacity.desired,
      healthChecks: autoscaling.HealthChecks.ec2({
        gracePeriod: Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
      }),
      cooldown: Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
      defaultInstanceWarmup: Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      notifications: props.notificationTopic ? [{ topic: props.notificationTopic }] : undefined,
      signals: autoscaling.Signals.waitForMinCapacity({
        timeout: Duration.seconds(READY_TIMEOUT_SECONDS + 300),
      }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: spec.capacity.min,
      }),
    });
    this.runtime.userData.addSignalOnExitCommand(this.autoScalingGroup);
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
