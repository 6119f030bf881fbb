import { Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { DEFAULT_MEDIA_PORT_RANGE, DEFAULT_PORTS } from '../../runtime/contract/timings';
import {
  checkNodeFleetOptions,
  MAX_FLEET_CAPACITY,
  NodeFleet,
  NodeFleetOptions,
  NodeFleetProps,
  resolveNodeFleetOptions,
  ResolvedNodeFleetOptions,
} from '../node-fleet';
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

/**
 * The part of {@link MediaFleetProps} that deployment config sets. Capacity defaults: `minCapacity` 1,
 * `maxCapacity` three times `minCapacity + spareCapacity` (at most 1000), `instanceType` c7g.large.
 */
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
   * @default DEFAULT_PORTS.media of runtime/contract (9090)
   */
  readonly controlPort?: number;

  /**
   * First port of the UDP/TCP media range open to clients.
   *
   * @default DEFAULT_MEDIA_PORT_RANGE.min of runtime/contract (40000)
   */
  readonly mediaPortMin?: number;

  /**
   * Last port of the UDP/TCP media range open to clients.
   *
   * @default DEFAULT_MEDIA_PORT_RANGE.max of runtime/contract (49999)
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

/** {@link MediaFleetOptions} with every default filled in. */
export interface ResolvedMediaFleetOptions extends ResolvedNodeFleetOptions {
  readonly spareCapacity: number;
  readonly controlPort: number;
  readonly mediaPortMin: number;
  readonly mediaPortMax: number;
  readonly turnPorts: number[];
  readonly scaling: Required<MediaScalingOptions>;
}

/** Props of {@link MediaFleet}. */
export interface MediaFleetProps extends NodeFleetProps, MediaFleetOptions {}

/** Minutes of average CPU a step scaling decision looks at. */
const STEP_EVALUATION_MINUTES = 3;

/** `options` with every default filled in: what {@link MediaFleet} builds and its check checks. */
export function resolveMediaFleetOptions(options: MediaFleetOptions = {}): ResolvedMediaFleetOptions {
  const minCapacity = options.minCapacity ?? 1;
  const spareCapacity = options.spareCapacity ?? 1;
  const scaling = options.scaling ?? {};
  return {
    ...resolveNodeFleetOptions(options, {
      instanceType: options.instanceType ?? new ec2.InstanceType('c7g.large'),
      minCapacity,
      maxCapacity: options.maxCapacity ?? Math.min(3 * (minCapacity + spareCapacity), MAX_FLEET_CAPACITY),
    }),
    spareCapacity,
    controlPort: options.controlPort ?? DEFAULT_PORTS.media,
    mediaPortMin: options.mediaPortMin ?? DEFAULT_MEDIA_PORT_RANGE.min,
    mediaPortMax: options.mediaPortMax ?? DEFAULT_MEDIA_PORT_RANGE.max,
    turnPorts: options.turnPorts ?? [3478, 5349],
    scaling: {
      mode: scaling.mode ?? 'step',
      scaleOutCpuPercent: scaling.scaleOutCpuPercent ?? 70,
      scaleInCpuPercent: scaling.scaleInCpuPercent ?? 30,
      targetCpuPercent: scaling.targetCpuPercent ?? 50,
    },
  };
}

/** The group's minimum size: N+M. */
function floorOf(options: ResolvedMediaFleetOptions): number {
  return options.minCapacity + options.spareCapacity;
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkMediaFleetOptions(options: MediaFleetOptions, prefix = ''): string[] {
  const resolved = resolveMediaFleetOptions(options);
  const problems = new Problems(prefix);
  problems.integers(resolved, {
    minCapacity: [1, MAX_FLEET_CAPACITY - 1],
    spareCapacity: [0, MAX_FLEET_CAPACITY - 1],
    controlPort: [1024, 65535],
    mediaPortMin: [1024, 65535],
    mediaPortMax: [1024, 65535],
  });
  const { controlPort: control, mediaPortMin: low, mediaPortMax: high, turnPorts, scaling } = resolved;
  const inMediaRange = (port: number) => concrete(port, low, high) && port >= low && port <= high;
  problems.require(
    !concrete(low, high) || low <= high,
    'mediaPortMin',
    `must not exceed mediaPortMax (${low} > ${high})`,
  );
  problems.require(!inMediaRange(control), 'controlPort', `must lie outside the media range ${low}-${high}`);
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

  problems.require(
    scaling.mode === 'step' || scaling.mode === 'target-tracking',
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
    scaling.scaleInCpuPercent,
    'scaling.scaleOutCpuPercent',
    scaling.scaleOutCpuPercent,
  );
  const floor = { value: floorOf(resolved), name: 'minCapacity + spareCapacity' };
  return [...problems.messages, ...checkNodeFleetOptions(resolved, floor, prefix)];
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
    const options = resolveMediaFleetOptions(props);
    const { mediaPortMin: low, mediaPortMax: high, scaling } = options;
    super(scope, id, props, {
      role: 'media',
      port: options.controlPort,
      options,
      floor: floorOf(options),
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
    for (const port of options.turnPorts) {
      this.securityGroup.addIngressRule(clients, ec2.Port.udp(port), `TURN from clients (UDP ${port})`);
      this.securityGroup.addIngressRule(clients, ec2.Port.tcp(port), `TURN from clients (TCP ${port})`);
    }
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'WebRTC media and TURN must be reachable from any client address (ICE candidates are the public ' +
        'IPv4 of the node); only the configured media range and TURN ports are open, the control port is not.',
    });

    this.scalingMode = scaling.mode;
    if (this.scalingMode === 'step') {
      this.scaleOnCpuStep('CpuScaleOut', scaling.scaleOutCpuPercent, +1);
      this.scaleOnCpuStep('CpuScaleIn', scaling.scaleInCpuPercent, -1);
    } else {
      this.autoScalingGroup.scaleOnCpuUtilization('CpuTargetTracking', {
        targetUtilizationPercent: scaling.targetCpuPercent,
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
