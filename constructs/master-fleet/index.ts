import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { checkNodeFleetOptions, NodeFleet, NodeFleetOptions, NodeFleetProps } from '../node-fleet';
import { MASTER_PORT } from '../shared/defaults';
import { Problems, throwIfProblems } from '../shared/problems';

/** The part of {@link MasterFleetProps} that deployment config sets. */
export interface MasterFleetOptions extends NodeFleetOptions {
  /**
   * Port of the signaling server: HTTP and WebSocket, `GET /live` and `GET /ready`.
   *
   * @default 8080
   */
  readonly port?: number;
}

/**
 * Props of {@link MasterFleet}. Capacity defaults: `minCapacity` 3 (at least 2), `maxCapacity` twice
 * `minCapacity`, `instanceType` t4g.small.
 */
export interface MasterFleetProps extends NodeFleetProps, MasterFleetOptions {
  /** The REST API secret (`RTC_API_SECRET`); only masters read it, its previous version too. */
  readonly apiSecret: secretsmanager.ISecret;

  /**
   * Target group the masters register in.
   *
   * @default - not attached to a load balancer
   */
  readonly targetGroup?: elbv2.IApplicationTargetGroup;
}

// Three, not two: the watchdog replaces a dead master only while a strict majority stays healthy.
const DEFAULT_MIN = 3;

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkMasterFleetOptions(options: MasterFleetOptions, prefix = ''): string[] {
  const problems = new Problems(prefix);
  problems.integer('minCapacity', options.minCapacity, 2, 1000);
  problems.integer('port', options.port, 1024, 65535);
  const min = options.minCapacity ?? DEFAULT_MIN;
  const capacity = { ...options, maxCapacity: options.maxCapacity ?? 2 * min };
  return [
    ...problems.messages,
    ...checkNodeFleetOptions(capacity, { value: min, name: 'minCapacity' }, prefix),
  ];
}

/**
 * The signaling masters: an Auto Scaling group across the AZs' private subnets, registered in the load
 * balancer's target group, admitting the load balancer only on the master port. Health checks are EC2
 * ones on purpose (docs/architecture.md rule 2): the watchdog decides replacement through `SetInstanceHealth`.
 */
export class MasterFleet extends NodeFleet {
  /** The target group the masters register in, if any. */
  public readonly targetGroup?: elbv2.IApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: MasterFleetProps) {
    throwIfProblems('MasterFleet props', checkMasterFleetOptions(props));
    const min = props.minCapacity ?? DEFAULT_MIN;
    const capacity = { min, max: props.maxCapacity ?? 2 * min, desired: props.desiredCapacity };
    super(scope, id, props, {
      role: 'master',
      port: props.port ?? MASTER_PORT,
      capacity,
      secrets: { RTC_API_SECRET: props.apiSecret },
    });
    // The group keeps EC2 health checks although it sits behind the load balancer (docs/architecture.md
    // rule 2): when the registry fails every master turns not-ready at once, and ELB health checks would
    // replace the whole fleet. The load balancer only routes on /ready.
    this.targetGroup = props.targetGroup;
    if (props.targetGroup) this.autoScalingGroup.attachToApplicationTargetGroup(props.targetGroup);
  }
}
