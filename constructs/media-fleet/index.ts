import { Duration, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_MEDIA_PORT_RANGE, DEFAULT_PORTS } from '../../runtime/contract/timings';
import { DEFAULT_TURN_PORT, TURN_RELAY_PORT_RANGE, TURN_TLS_HOST_PATTERN } from '../../runtime/contract/turn';
import {
  LOAD_METRIC_DIMENSION,
  LOAD_METRIC_INTERVAL_MS,
  LOAD_METRIC_NAME,
  LOAD_METRIC_NAMESPACE,
} from '../../runtime/media/load-metric';
import {
  checkNodeFleetOptions,
  MAX_FLEET_CAPACITY,
  NodeFleet,
  NodeFleetOptions,
  NodeFleetProps,
  resolveNodeFleetOptions,
  ResolvedNodeFleetOptions,
} from '../node-fleet';
import { acknowledgeControl } from '../shared/controls';
import { SECRET_COMPLETE_ARN } from '../shared/patterns';
import { concrete, Problems, throwIfProblems } from '../shared/problems';

/** How the media fleet scales on its load metric. */
export type MediaScalingMode = 'step' | 'target-tracking';

/**
 * Scaling of the media fleet on the load its agents publish ({@link MediaFleet.metricLoadPercent}): each
 * node's used share of what placement may put on it, the lesser headroom of Janus's CPU and its sessions.
 */
export interface MediaScalingOptions {
  /**
   * `step`: add a node at or above `scaleOutLoadPercent` and remove one at or below `scaleInLoadPercent`
   * (group average over 3 minutes); `target-tracking`: keep the group average near `targetLoadPercent`.
   *
   * @default 'step'
   */
  readonly mode?: MediaScalingMode;

  /**
   * Average load (%) at or above which a node is added (step mode), 1 to 99.
   *
   * @default 70
   */
  readonly scaleOutLoadPercent?: number;

  /**
   * Average load (%) at or below which a node is removed (step mode), 1 to 99, below `scaleOutLoadPercent`.
   *
   * @default 30
   */
  readonly scaleInLoadPercent?: number;

  /**
   * Average load (%) target tracking aims at (target-tracking mode), 1 to 99.
   *
   * @default 50
   */
  readonly targetLoadPercent?: number;
}

/**
 * TURN on every media node: coturn, run by the media agent, relays media between clients behind NATs
 * and firewalls and the node's own Janus, with short-lived credentials the masters sign with a shared
 * secret (runtime/contract/turn.ts).
 */
export interface MediaTurnOptions {
  /**
   * Run TURN on every node and open its port to clients.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * TURN's port, UDP and TCP (and TLS on the TCP port, with a certificate), open to clients.
   *
   * @default DEFAULT_TURN_PORT of runtime/contract (443)
   */
  readonly port?: number;

  /**
   * Complete ARN of a Secrets Manager secret whose string value is the PEM certificate chain and its
   * private key, for TURN over TLS (`turns:`) on `port`. Needs `tlsHostName`.
   *
   * @default - no TLS: TURN over UDP and TCP
   */
  readonly tlsCertificateSecretArn?: string;

  /**
   * The name clients reach a node's TURN over TLS at, which the certificate covers; `{ip}` in it stands
   * for the node's public IPv4 with dashes for dots (`{ip}.turn.example.com`).
   *
   * @default - none; required with `tlsCertificateSecretArn`
   */
  readonly tlsHostName?: string;
}

/** {@link MediaTurnOptions} with every default filled in. */
export interface ResolvedMediaTurnOptions extends MediaTurnOptions {
  readonly enabled: boolean;
  readonly port: number;
}

/**
 * The part of {@link MediaFleetProps} that deployment config sets. Capacity defaults: `minCapacity` 1,
 * `maxCapacity` three times `minCapacity + spareCapacity` (at most 1000), `instanceTypes`
 * {@link DEFAULT_MEDIA_INSTANCE_TYPES}.
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
   * First port of the UDP range Janus takes ICE, RTP and RTCP on (its `rtp_port_range`), open to clients.
   *
   * @default DEFAULT_MEDIA_PORT_RANGE.min of runtime/contract (40000)
   */
  readonly mediaPortMin?: number;

  /**
   * Last port of the UDP range Janus takes ICE, RTP and RTCP on, open to clients.
   *
   * @default DEFAULT_MEDIA_PORT_RANGE.max of runtime/contract (49999)
   */
  readonly mediaPortMax?: number;

  /**
   * TURN (coturn) on every node.
   *
   * @default - on, UDP and TCP on port 443, no TLS
   */
  readonly turn?: MediaTurnOptions;

  /**
   * Scaling on the agents' load metric.
   *
   * @default - step scaling at 70 % / 30 % load
   */
  readonly scaling?: MediaScalingOptions;
}

/** {@link MediaFleetOptions} with every default filled in. */
export interface ResolvedMediaFleetOptions extends ResolvedNodeFleetOptions {
  readonly spareCapacity: number;
  readonly controlPort: number;
  readonly mediaPortMin: number;
  readonly mediaPortMax: number;
  readonly turn: ResolvedMediaTurnOptions;
  readonly scaling: Required<MediaScalingOptions>;
}

/** Props of {@link MediaFleet}. */
export interface MediaFleetProps extends NodeFleetProps, MediaFleetOptions {
  /**
   * The media control channel's shared secret (`RTC_MEDIA_CONTROL_SECRET`), which the masters hold too:
   * both ends of the channel prove they know it.
   */
  readonly controlSecret: secretsmanager.ISecret;

  /**
   * TURN's shared secret (`RTC_TURN_SECRET`), which the masters sign clients' TURN credentials with.
   * Required while `turn.enabled`.
   *
   * @default - none (TURN off)
   */
  readonly turnSecret?: secretsmanager.ISecret;
}

/**
 * Two vCPUs for Janus, compute-optimized first, then network-optimized and general purpose: three
 * Graviton families with Nitro encryption in transit (AWS Control Tower's CT.AUTOSCALING.PR.11).
 */
export const DEFAULT_MEDIA_INSTANCE_TYPES: readonly string[] = ['c7g.large', 'c6gn.large', 'm7g.large'];

/** Minutes of average load a step scaling decision looks at. */
const STEP_EVALUATION_MINUTES = 3;

/**
 * Where the agent writes Janus's generated config, secrets included: inside the unit's private
 * `RuntimeDirectory=rtc-ha` (0700, the rtc-ha user's; constructs/node-software/assets/rtc-ha-node.sh).
 */
export const JANUS_CONFIG_DIR = '/run/rtc-ha/janus';

/** `options` with every default filled in: what {@link MediaFleet} builds and its check checks. */
export function resolveMediaFleetOptions(options: MediaFleetOptions = {}): ResolvedMediaFleetOptions {
  const minCapacity = options.minCapacity ?? 1;
  const spareCapacity = options.spareCapacity ?? 1;
  const scaling = options.scaling ?? {};
  return {
    ...resolveNodeFleetOptions(options, {
      instanceTypes:
        options.instanceTypes ?? DEFAULT_MEDIA_INSTANCE_TYPES.map((t) => new ec2.InstanceType(t)),
      minCapacity,
      maxCapacity: options.maxCapacity ?? Math.min(3 * (minCapacity + spareCapacity), MAX_FLEET_CAPACITY),
    }),
    spareCapacity,
    controlPort: options.controlPort ?? DEFAULT_PORTS.media,
    mediaPortMin: options.mediaPortMin ?? DEFAULT_MEDIA_PORT_RANGE.min,
    mediaPortMax: options.mediaPortMax ?? DEFAULT_MEDIA_PORT_RANGE.max,
    turn: {
      ...options.turn,
      enabled: options.turn?.enabled ?? true,
      port: options.turn?.port ?? DEFAULT_TURN_PORT,
    },
    scaling: {
      mode: scaling.mode ?? 'step',
      scaleOutLoadPercent: scaling.scaleOutLoadPercent ?? 70,
      scaleInLoadPercent: scaling.scaleInLoadPercent ?? 30,
      targetLoadPercent: scaling.targetLoadPercent ?? 50,
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
  const { controlPort: control, mediaPortMin: low, mediaPortMax: high, scaling } = resolved;
  problems.require(
    !concrete(low, high) || low <= high,
    'mediaPortMin',
    `must not exceed mediaPortMax (${low} > ${high})`,
  );
  problems.require(
    !within(control, low, high),
    'controlPort',
    `must lie outside the media range ${low}-${high}`,
  );
  checkTurnOptions(problems, resolved);

  problems.require(
    scaling.mode === 'step' || scaling.mode === 'target-tracking',
    'scaling.mode',
    `must be "step" or "target-tracking" (got "${scaling.mode}")`,
  );
  problems.integers(
    scaling,
    { scaleOutLoadPercent: [1, 99], scaleInLoadPercent: [1, 99], targetLoadPercent: [1, 99] },
    'scaling.',
  );
  problems.less(
    'scaling.scaleInLoadPercent',
    scaling.scaleInLoadPercent,
    'scaling.scaleOutLoadPercent',
    scaling.scaleOutLoadPercent,
  );
  const floor = { value: floorOf(resolved), name: 'minCapacity + spareCapacity' };
  return [...problems.messages, ...checkNodeFleetOptions(resolved, floor, prefix)];
}

/** TURN's port must be free of Janus's, the control port and TURN's relays, and TLS fully given or not at all. */
function checkTurnOptions(problems: Problems, options: ResolvedMediaFleetOptions): void {
  const { turn, controlPort: control, mediaPortMin: low, mediaPortMax: high } = options;
  const relays = TURN_RELAY_PORT_RANGE;
  if (!turn.enabled) {
    for (const field of ['tlsCertificateSecretArn', 'tlsHostName'] as const) {
      problems.require(turn[field] === undefined, `turn.${field}`, 'needs turn.enabled');
    }
    return;
  }
  problems.integer('turn.port', turn.port, 1, 65535);
  problems.require(
    !within(turn.port, low, high),
    'turn.port',
    `must lie outside the media range ${low}-${high}`,
  );
  problems.require(turn.port !== control, 'turn.port', `must not be the control port ${control}`);
  problems.require(
    !within(turn.port, relays.min, relays.max),
    'turn.port',
    `must lie outside TURN's relay ports ${relays.min}-${relays.max}`,
  );
  problems.require(
    !concrete(low, high) || high < relays.min || low > relays.max,
    'mediaPortMin',
    `to mediaPortMax (${low}-${high}) must not overlap TURN's relay ports ${relays.min}-${relays.max}`,
  );
  problems.matches(
    'turn.tlsCertificateSecretArn',
    turn.tlsCertificateSecretArn,
    SECRET_COMPLETE_ARN,
    'the complete ARN of a Secrets Manager secret (ending in -XXXXXX)',
  );
  problems.matches(
    'turn.tlsHostName',
    turn.tlsHostName,
    TURN_TLS_HOST_PATTERN,
    'a lowercase DNS name, {ip} standing for the public IPv4 with dashes',
  );
  problems.require(
    (turn.tlsCertificateSecretArn === undefined) === (turn.tlsHostName === undefined),
    'turn.tlsHostName',
    'and turn.tlsCertificateSecretArn go together: clients need the name the certificate covers',
  );
}

/** Whether `port` is known to lie from `min` to `max`. */
function within(port: number, min: number, max: number): boolean {
  return concrete(port, min, max) && port >= min && port <= max;
}

/**
 * The media nodes: an Auto Scaling group in public subnets with public IPv4 addresses (media needs
 * direct UDP reachability), each running Janus and TURN (coturn) under its media agent. Open to clients:
 * exactly the UDP range Janus uses, and TURN's port on UDP and TCP; the control port only to whom
 * {@link allowControlFrom} names. TURN's relay ports stay closed: a relay's only peer is the node's Janus.
 * The agents publish their load ({@link metricLoadPercent}) and the fleet scales on it (step or target
 * tracking), never below a spare-capacity floor of `minCapacity + spareCapacity` nodes (N+M).
 */
export class MediaFleet extends NodeFleet {
  /** Control and health port of the media agent. */
  public readonly controlPort: number;

  /** How the fleet scales. */
  public readonly scalingMode: MediaScalingMode;

  /** The control channel's shared secret (`RTC_MEDIA_CONTROL_SECRET`); the masters need it too. */
  public readonly controlSecret: secretsmanager.ISecret;

  /** TURN on the nodes, as they run it; undefined when `turn.enabled` is false. */
  public readonly turn?: ResolvedMediaTurnOptions;

  constructor(scope: Construct, id: string, props: MediaFleetProps) {
    const options = resolveMediaFleetOptions(props);
    const { mediaPortMin: low, mediaPortMax: high, scaling, turn } = options;
    throwIfProblems('MediaFleet props', [
      ...checkMediaFleetOptions(props),
      ...(turn.enabled && !props.turnSecret
        ? ['turnSecret is required while turn.enabled (the default)']
        : []),
    ]);
    super(scope, id, props, {
      role: 'media',
      port: options.controlPort,
      options,
      floor: floorOf(options),
      // Janus's ICE address and NAT mapping (the private and public IPv4) come from instance metadata.
      environment: {
        RTC_MEDIA_PORT_MIN: String(low),
        RTC_MEDIA_PORT_MAX: String(high),
        RTC_JANUS: 'on',
        RTC_JANUS_CONFIG_DIR: JANUS_CONFIG_DIR,
        ...(turn.enabled ? { RTC_TURN_PORT: String(turn.port) } : {}),
      },
      secrets: {
        RTC_MEDIA_CONTROL_SECRET: props.controlSecret,
        ...(turn.enabled && props.turnSecret ? { RTC_TURN_SECRET: props.turnSecret } : {}),
      },
      secretArns:
        turn.enabled && turn.tlsCertificateSecretArn
          ? { RTC_TURN_TLS_PEM: turn.tlsCertificateSecretArn }
          : {},
    });
    this.controlPort = this.port;
    this.controlSecret = props.controlSecret;
    this.turn = turn.enabled ? turn : undefined;

    const clients = ec2.Peer.anyIpv4();
    this.securityGroup.addIngressRule(
      clients,
      ec2.Port.udpRange(low, high),
      'WebRTC media from clients: ICE, RTP and RTCP to Janus (UDP)',
    );
    if (this.turn) {
      const port = this.turn.port;
      this.securityGroup.addIngressRule(clients, ec2.Port.udp(port), `TURN from clients (UDP ${port})`);
      this.securityGroup.addIngressRule(
        clients,
        ec2.Port.tcp(port),
        `TURN from clients, TLS too (TCP ${port})`,
      );
    }
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        "WebRTC media must reach Janus from any client address (its ICE candidates carry the node's public " +
        "IPv4), and clients behind NATs and firewalls TURN; only the media range Janus uses (UDP) and TURN's " +
        'port (UDP and TCP) are open, the control port and the TURN relay ports are not.',
    });
    acknowledgeControl(
      this.securityGroup,
      'CT.EC2.PR.3',
      'WebRTC media reaches Janus from any client address on the UDP range of its ICE candidates, which no ' +
        "load balancer fronts; only that range and TURN's port are open, nothing else.",
    );
    acknowledgeControl(
      this.launchTemplate,
      'CT.EC2.PR.9',
      "Janus's ICE candidates carry the node's own public IPv4 (EC2's 1:1 NAT): clients send media straight " +
        'to it, so every media node needs one. Masters get none.',
    );

    this.grantPutLoadMetric();
    this.scalingMode = scaling.mode;
    if (this.scalingMode === 'step') {
      this.scaleOnLoadStep('LoadScaleOut', scaling.scaleOutLoadPercent, +1);
      this.scaleOnLoadStep('LoadScaleIn', scaling.scaleInLoadPercent, -1);
    } else {
      this.autoScalingGroup.scaleToTrackMetric('LoadTargetTracking', {
        metric: this.metricLoadPercent(),
        targetValue: scaling.targetLoadPercent,
      });
    }
  }

  /**
   * Average load (%) of the group's nodes, as their agents publish it once a minute: each node's used
   * share of what placement may put on it (runtime/media/load-metric.ts).
   */
  public metricLoadPercent(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: LOAD_METRIC_NAMESPACE,
      metricName: LOAD_METRIC_NAME,
      dimensionsMap: { [LOAD_METRIC_DIMENSION]: this.autoScalingGroup.autoScalingGroupName },
      statistic: cloudwatch.Stats.AVERAGE,
      period: Duration.millis(LOAD_METRIC_INTERVAL_MS),
      ...options,
    });
  }

  /** Lets `peer` reach the control port (`/live`, `/ready` and the control channel). */
  public allowControlFrom(peer: ec2.IConnectable, description = 'rtc-ha media control port'): void {
    this.connections.allowDefaultPortFrom(peer, description);
  }

  /** Lets the nodes publish their load, in the media namespace only. */
  private grantPutLoadMetric(): void {
    const policy = new iam.Policy(this, 'LoadMetricPolicy', {
      roles: [this.instanceRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': LOAD_METRIC_NAMESPACE } },
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData supports no resource-level permissions; the cloudwatch:namespace condition ' +
        `limits the nodes to their own load metric's namespace, ${LOAD_METRIC_NAMESPACE}.`,
    });
  }

  /**
   * One step of step scaling: an alarm on the group's average load over 3 minutes that adds or removes a
   * node. (Written out rather than `scaleOnMetric`, which passes a deprecated prop and so prints a
   * deprecation warning at every synth.)
   */
  private scaleOnLoadStep(id: string, thresholdPercent: number, change: number): void {
    const action = new autoscaling.StepScalingAction(this, `${id}Policy`, {
      autoScalingGroup: this.autoScalingGroup,
      adjustmentType: autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: autoscaling.MetricAggregationType.AVERAGE,
    });
    action.addAdjustment(
      change > 0 ? { adjustment: change, lowerBound: 0 } : { adjustment: change, upperBound: 0 },
    );
    const alarm = new cloudwatch.Alarm(this, `${id}Alarm`, {
      alarmDescription: `${change > 0 ? 'Add' : 'Remove'} a media node: average load ${change > 0 ? 'at or above' : 'at or below'} ${thresholdPercent} %`,
      metric: this.metricLoadPercent(),
      threshold: thresholdPercent,
      comparisonOperator:
        change > 0
          ? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
          : cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: STEP_EVALUATION_MINUTES,
    });
    alarm.addAlarmAction(new actions.AutoScalingAction(action));
  }
}
