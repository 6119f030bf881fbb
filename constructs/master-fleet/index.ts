import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_PORTS } from '../../runtime/contract/timings';
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
import { Problems, throwIfProblems } from '../shared/problems';

/**
 * The part of {@link MasterFleetProps} that deployment config sets. Capacity defaults: `minCapacity` 3
 * (2 to 999), `maxCapacity` twice `minCapacity` (at most 1000), `instanceTypes` {@link DEFAULT_MASTER_INSTANCE_TYPES}.
 */
export interface MasterFleetOptions extends NodeFleetOptions {
  /**
   * Port of the signaling server: HTTP and WebSocket, `GET /live` and `GET /ready`.
   *
   * @default DEFAULT_PORTS.master of runtime/contract (8080)
   */
  readonly port?: number;

  /**
   * Scaling of the masters between `minCapacity` and `maxCapacity`.
   *
   * @default - target tracking at 60 % average CPU
   */
  readonly scaling?: MasterScalingOptions;
}

/**
 * How the masters scale: target tracking on the group's average CPU. A master's work (WebSocket frames,
 * REST calls, registry round trips) runs on one event loop, so its CPU follows its load; connections per
 * target would not (the load balancer counts those for HTTP only, not per open WebSocket).
 */
export interface MasterScalingOptions {
  /**
   * Average CPU (%) of the group that target tracking keeps near, 10 to 90. Scaling in moves the leaving
   * masters' clients to the others (they resume), so leave room.
   *
   * @default 60
   */
  readonly targetCpuPercent?: number;
}

/** {@link MasterFleetOptions} with every default filled in. */
export interface ResolvedMasterFleetOptions extends ResolvedNodeFleetOptions {
  readonly port: number;
  readonly scaling: Required<MasterScalingOptions>;
}

/** TURN on the media nodes, as the masters hand it to clients: credentials signed with its secret. */
export interface MasterTurnProps {
  /** The shared secret the media nodes' coturn checks credentials with (`RTC_TURN_SECRET`). */
  readonly secret: secretsmanager.ISecret;

  /** The media nodes' TURN port, UDP and TCP (`RTC_TURN_PORT`). */
  readonly port: number;

  /**
   * The name clients reach a media node's TURN over TLS at (`RTC_TURN_TLS_HOST`); `{ip}` stands for the
   * node's public IPv4 with dashes.
   *
   * @default - no TLS: clients get `turn:` URLs over UDP and TCP
   */
  readonly tlsHostName?: string;
}

/** Props of {@link MasterFleet}. */
export interface MasterFleetProps extends NodeFleetProps, MasterFleetOptions {
  /** The REST API secret (`RTC_API_SECRET`); only masters read it, its previous version too. */
  readonly apiSecret: secretsmanager.ISecret;

  /**
   * The media control channel's shared secret (`RTC_MEDIA_CONTROL_SECRET`): the one the media fleet holds.
   * Masters broker clients' media requests to the media agents over that channel.
   */
  readonly mediaControlSecret: secretsmanager.ISecret;

  /**
   * TURN on the media nodes: with it, the masters hand each participant TURN credentials with its join,
   * resume and media moves.
   *
   * @default - no TURN: clients get no relay from the masters
   */
  readonly turn?: MasterTurnProps;

  /**
   * Target group the masters register in.
   *
   * @default - not attached to a load balancer
   */
  readonly targetGroup?: elbv2.IApplicationTargetGroup;
}

// Three, not two: the watchdog replaces a dead master only while a strict majority stays healthy.
const DEFAULT_MIN_CAPACITY = 3;

/**
 * One vCPU is what a master's single event loop uses. Two Graviton families with Nitro encryption in
 * transit, as AWS Control Tower's CT.AUTOSCALING.PR.11 asks of overrides (T4g has none).
 */
export const DEFAULT_MASTER_INSTANCE_TYPES: readonly string[] = ['c7g.medium', 'm7g.medium'];

/** `options` with every default filled in: what {@link MasterFleet} builds and its check checks. */
export function resolveMasterFleetOptions(options: MasterFleetOptions = {}): ResolvedMasterFleetOptions {
  const minCapacity = options.minCapacity ?? DEFAULT_MIN_CAPACITY;
  return {
    ...resolveNodeFleetOptions(options, {
      instanceTypes:
        options.instanceTypes ?? DEFAULT_MASTER_INSTANCE_TYPES.map((t) => new ec2.InstanceType(t)),
      minCapacity,
      maxCapacity: options.maxCapacity ?? Math.min(2 * minCapacity, MAX_FLEET_CAPACITY),
    }),
    port: options.port ?? DEFAULT_PORTS.master,
    scaling: { targetCpuPercent: options.scaling?.targetCpuPercent ?? 60 },
  };
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkMasterFleetOptions(options: MasterFleetOptions, prefix = ''): string[] {
  const resolved = resolveMasterFleetOptions(options);
  const problems = new Problems(prefix);
  // Below the most a fleet may have: a rolling update adds a node before it removes one.
  problems.integer('minCapacity', resolved.minCapacity, 2, MAX_FLEET_CAPACITY - 1);
  problems.integer('port', resolved.port, 1024, 65535);
  problems.integer('scaling.targetCpuPercent', resolved.scaling.targetCpuPercent, 10, 90);
  return [
    ...problems.messages,
    ...checkNodeFleetOptions(resolved, { value: resolved.minCapacity, name: 'minCapacity' }, prefix),
  ];
}

/**
 * The signaling masters: an Auto Scaling group across the AZs' private subnets, registered in the load
 * balancer's target group, admitting the load balancer only on the master port, scaled on CPU (target
 * tracking). Health checks are EC2 ones on purpose (docs/architecture.md rule 2): the watchdog decides
 * replacement through `SetInstanceHealth`.
 */
export class MasterFleet extends NodeFleet {
  /** The target group the masters register in, if any. */
  public readonly targetGroup?: elbv2.IApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: MasterFleetProps) {
    throwIfProblems('MasterFleet props', checkMasterFleetOptions(props));
    const options = resolveMasterFleetOptions(props);
    const { turn } = props;
    super(scope, id, props, {
      role: 'master',
      port: options.port,
      options,
      floor: options.minCapacity,
      environment: turn && {
        RTC_TURN_PORT: String(turn.port),
        ...(turn.tlsHostName ? { RTC_TURN_TLS_HOST: turn.tlsHostName } : {}),
      },
      secrets: {
        RTC_API_SECRET: props.apiSecret,
        RTC_MEDIA_CONTROL_SECRET: props.mediaControlSecret,
        ...(turn ? { RTC_TURN_SECRET: turn.secret } : {}),
      },
    });
    // The group keeps EC2 health checks although it sits behind the load balancer (docs/architecture.md
    // rule 2): when the registry fails every master turns not-ready at once, and ELB health checks would
    // replace the whole fleet. The load balancer only routes on /ready.
    this.autoScalingGroup.scaleOnCpuUtilization('CpuTargetTracking', {
      targetUtilizationPercent: options.scaling.targetCpuPercent,
    });
    this.targetGroup = props.targetGroup;
    if (props.targetGroup) {
      this.autoScalingGroup.attachToApplicationTargetGroup(props.targetGroup);
      acknowledgeControl(
        this.autoScalingGroup,
        'CT.AUTOSCALING.PR.4',
        'EC2 health checks on purpose (docs/architecture.md rule 2): when the registry fails, every master turns ' +
          'not-ready at once, and ELB health checks would replace the whole fleet. The load balancer only routes ' +
          'on GET /ready; the watchdog replaces a master on two independent signals (SetInstanceHealth).',
      );
    }
  }
}
