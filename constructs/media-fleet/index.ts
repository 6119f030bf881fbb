import { Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { checkNodeFleetOptions, NodeFleet, NodeFleetOptions, NodeFleetProps } from '../node-fleet';
import { MEDIA_CONTROL_PORT } from '../shared/defaults';
import { concrete, Problems, throwIfProblems } from '../shared/problems';

/** How the media fleet scales on CPU. */
export type MediaScalingMode = 'step' | 'target-tracking';

/** CPU scaling of the media fleet. */
export interface MediaScalingOptions {
  /**
   * `step`: add a node above `scaleOutCpuPercent` and remove one below `scaleInCpuPercent` (average
   * over 3 minutes); `target-tracking`: keep the average near `targetCpuPercent`.
   *
   * @default 'step'
   */
  readonly mode?: MediaScalingMode;

  /**
   * Average CPU (%) above which a node is added (step mode), 1 to 99.
   *
   * @default 70
   */
  readonly scaleOutCpuPercent?: number;

  /**
   * Average CPU (%) below which a node is removed (step mode), 1 to 99, below `scaleOutCpuPercent`.
   *
   * @default 30
   */
  readonly scaleInCpuPercent?: number;

  /**
   * Average CPU (%) target tracking aims at (target-tracking mode), 1 to 99.
   *
   * @default 50
   */
  readonly targetCpuPercent?: number;
}

/** The part of {@link MediaFleetProps} that deployment config sets. */
export interface MediaFleetOptions extends NodeFleetOptions {
  /**
   * Nodes kept on top of `minCapacity` for failures (the M of N+M): the group never shrinks below
   * `minCapacity + spareCapacity`.
   *
   * @default 1
   */
  readonly spareCapacity?: number;

  /**
   * Control and health port of the media agent, open to the masters only.
   *
   * @default 9090
   */
  readonly controlPort?: number;

  /**
   * First port of the UDP/TCP media range open to clients.
   *
   * @default 40000
   */
  readonly mediaPortMin?: number;

  /**
   * Last port of the UDP/TCP media range open to clients.
   *
   * @default 49999
   */
  readonly mediaPortMax?: number;

  /**
   * TURN ports open to clients on UDP and TCP (3478 for TURN, 5349 for TURN over TLS/DTLS).
   *
   * @default [3478, 5349]
   */
  readonly turnPorts?: number[];

  /**
   * CPU scaling.
   *
   * @default - step scaling at 70 % / 30 %
   */
  readonly scaling?: MediaScalingOptions;
}

/**
 * Props of {@link MediaFleet}. Capacity defaults: `minCapacity` 1, `maxCapacity` three times
 * `minCapacity + spareCapacity`, `instanceType` c7g.large.
 */
export interface MediaFleetProps extends NodeFleetProps, MediaFleetOptions {}

const DEFAULT_MIN = 1;
const DEFAULT_SPARE = 1;
const DEFAULT_TURN_PORTS = [3478, 5349];
/** Minutes of average CPU a step scaling decision looks at. */
const STEP_EVALUATION_MINUTES = 3;

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkMediaFleetOptions(options: MediaFleetOptions, prefix = ''): string[] {
  const problems = new Problems(prefix);
  problems.integers(options, {
    minCapacity: [1, 1000],
    spareCapacity: [0, 1000],
    controlPort: [1024, 65535],
    mediaPortMin: [1024, 65535],
    mediaPortMax: [1024, 65535],
  });
  const control = options.controlPort ?? MEDIA_CONTROL_PORT;
  const low = options.mediaPortMin ?? 40000;
  const high = options.mediaPortMax ?? 49999;
  const inMediaRange = (port: number) => concrete(port, low, high) && port >= low && port <= high;
  problems.require(
    !concrete(low, high) || low <= high,
    'mediaPortMin',
    `must not exceed mediaPortMax (${low} > ${high})`,
  );
  problems.require(!inMediaRange(control), 'controlPort', `must lie outside the media range ${low}-${high}`);
  const turnPorts = options.turnPorts ?? DEFAULT_TURN_PORTS;
  for (const port of turnPorts) {
    problems.integer('turnPorts', port, 1, 65535);
    problems.require(
      !inMediaRange(port),
      'turnPorts',
      `must lie outside the media range ${low}-${high} (got ${port})`,
    );
    problems.require(port !== control, 'turnPorts', `must not include the control port ${control}`);
  }
  problems.require(new Set(turnPorts).size === turnPorts.length, 'turnPorts', 'must not repeat a port');

  const scaling = options.scaling ?? {};
  problems.require(
    scaling.mode === undefined || scaling.mode === 'step' || scaling.mode === 'target-tracking',
    'scaling.mode',
    `must be "step" or "target-tracking" (got "${scaling.mode}")`,
  );
  problems.integers(
    scaling,
    { scaleOutCpuPercent: [1, 99], scaleInCpuPercent: [1, 99], targetCpuPercent: [1, 99] },
    'scaling.',
  );
  problems.less(
    'scaling.scaleInCpuPercent',
    scaling.scaleInCpuPercent ?? 30,
    'scaling.scaleOutCpuPercent',
    scaling.scaleOutCpuPercent ?? 70,
  );

  const floor = (options.minCapacity ?? DEFAULT_MIN) + (options.spareCapacity ?? DEFAULT_SPARE);
  const capacity = { ...options, maxCapacity: options.maxCapacity ?? 3 * floor };
  const floorName = 'minCapacity + spareCapacity';
  return [
    ...problems.messages,
    ...checkNodeFleetOptions(capacity, { value: floor, name: floorName }, prefix),
  ];
}

/**
 * The media nodes: an Auto Scaling group in public subnets with public IPv4 addresses (media needs
 * direct UDP reachability), the media range and TURN ports open to clients, the control port open only
 * to whom {@link allowControlFrom} names, CPU scaling (step or target tracking) and a spare-capacity
 * floor of `minCapacity + spareCapacity` nodes (N+M).
 */
export class MediaFleet extends NodeFleet {
  /** Control and health port of the media agent. */
  public readonly controlPort: number;

  /** How the fleet scales. */
  public readonly scalingMode: MediaScalingMode;

  constructor(scope: Construct, id: string, props: MediaFleetProps) {
    throwIfProblems('MediaFleet props', checkMediaFleetOptions(props));
    const floor = (props.minCapacity ?? DEFAULT_MIN) + (props.spareCapacity ?? DEFAULT_SPARE);
    const low = props.mediaPortMin ?? 40000;
    const high = props.mediaPortMax ?? 49999;
    super(scope, id, props, {
      role: 'media',
      port: props.controlPort ?? MEDIA_CONTROL_PORT,
      capacity: { min: floor, max: props.maxCapacity ?? 3 * floor, desired: props.desiredCapacity },
      environment: { RTC_MEDIA_PORT_MIN: String(low), RTC_MEDIA_PORT_MAX: String(high) },
    });
    this.controlPort = this.port;

    const clients = ec2.Peer.anyIpv4();
    this.securityGroup.addIngressRule(
      clients,
      ec2.Port.udpRange(low, high),
      'WebRTC media from clients (UDP)',
    );
    this.securityGroup.addIngressRule(
      clients,
      ec2.Port.tcpRange(low, high),
      'WebRTC media from clients (TCP)',
    );
    for (const port of props.turnPorts ?? DEFAULT_TURN_PORTS) {
      this.securityGroup.addIngressRule(clients, ec2.Port.udp(port), `TURN from clients (UDP ${port})`);
      this.securityGroup.addIngressRule(clients, ec2.Port.tcp(port), `TURN from clients (TCP ${port})`);
    }
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'WebRTC media and TURN must be reachable from any client address (ICE candidates are the public ' +
        'IPv4 of the node); only the configured media range and TURN ports are open, the control port is not.',
    });

    const scaling = props.scaling ?? {};
    this.scalingMode = scaling.mode ?? 'step';
    if (this.scalingMode === 'step') {
      this.scaleOnCpuStep('CpuScaleOut', scaling.scaleOutCpuPercent ?? 70, +1);
      this.scaleOnCpuStep('CpuScaleIn', scaling.scaleInCpuPercent ?? 30, -1);
    } else {
      this.autoScalingGroup.scaleOnCpuUtilization('CpuTargetTracking', {
        targetUtilizationPercent: scaling.targetCpuPercent ?? 50,
      });
    }
  }

  /**
   * One step of CPU step scaling: an alarm on the group's average CPU over 3 minutes that adds or
   * removes a node. (Written out rather than `scaleOnMetric`, which passes a deprecated prop and so
   * prints a deprecation warning at every synth.)
   */
  private scaleOnCpuStep(id: string, thresholdPercent: number, change: number): void {
    const action = new autoscaling.StepScalingAction(this, `${id}Policy`, {
      autoScalingGroup: this.autoScalingGroup,
      adjustmentType: autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: autoscaling.MetricAggregationType.AVERAGE,
    });
    action.addAdjustment(
      change > 0 ? { adjustment: change, lowerBound: 0 } : { adjustment: change, upperBound: 0 },
    );
    const alarm = new cloudwatch.Alarm(this, `${id}Alarm`, {
      alarmDescription: `${change > 0 ? 'Add' : 'Remove'} a media node: average CPU ${change > 0 ? 'at or above' : 'at or below'} ${thresholdPercent} %`,
      metric: this.metricCpuUtilization(),
      threshold: thresholdPercent,
      comparisonOperator:
        change > 0
          ? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
          : cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: STEP_EVALUATION_MINUTES,
    });
    alarm.addAlarmAction(new actions.AutoScalingAction(action));
  }

  /** Lets `peer` reach the control port (`/live`, `/ready` and the control API). */
  public allowControlFrom(peer: ec2.IConnectable, description = 'rtc-ha media control port'): void {
    this.connections.allowDefaultPortFrom(peer, description);
  }
}
