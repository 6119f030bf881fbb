import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ClusterAlarms, ClusterAlarmsProps } from '../alarms';
import { FleetWatchdog, FleetWatchdogOptions } from '../fleet-watchdog';
import { MasterFleet, MasterFleetOptions, resolveMasterFleetOptions } from '../master-fleet';
import { MediaFleet, MediaFleetOptions, resolveMediaFleetOptions } from '../media-fleet';
import { Network, NetworkOptions } from '../network';
import { drainTimeout, NodeSoftwareOptions } from '../node-software';
import { SessionStoreCluster, SessionStoreClusterOptions } from '../session-store-cluster';
import { allowCloudWatchLogs, customerManagedKey } from '../shared/controls';
import { Problems, throwIfProblems } from '../shared/problems';
import {
  checkSignalingLoadBalancerOptions,
  SignalingLoadBalancer,
  SignalingLoadBalancerOptions,
} from '../signaling-load-balancer';

/**
 * The watchdog of {@link RtcHaCluster}: whether it runs, and how it judges the fleets. Its registry key
 * prefix is the nodes' (`runtime.keyPrefix`).
 */
export interface RtcHaWatchdogOptions extends Omit<FleetWatchdogOptions, 'keyPrefix'> {
  /**
   * Run the watchdog. Without it, crashed masters are taken out of the load balancer but never replaced.
   *
   * @default true
   */
  readonly enabled?: boolean;
}

/** Props of {@link RtcHaCluster}; every one is optional. */
export interface RtcHaClusterProps {
  /**
   * A production cluster: plain HTTP is refused unless `loadBalancer.allowPlainHttp` says otherwise, and
   * these default to on: the load balancer's access logs (which need a stack with an explicit region),
   * deletion protection and web ACL (`loadBalancer.accessLogs`, `loadBalancer.deletionProtection`,
   * `loadBalancer.waf.enabled`) and, in a VPC the cluster creates, the AWS API endpoints
   * (`network.vpcEndpoints`).
   *
   * @default false
   */
  readonly production?: boolean;

  /**
   * An existing VPC to deploy into. It needs public subnets and private subnets with egress (a NAT
   * gateway) in at least two Availability Zones. `network` must then be left out.
   *
   * @default - a new VPC, built from `network`
   */
  readonly vpc?: ec2.IVpc;

  /**
   * The new VPC, or the id of an existing one to look up.
   *
   * @default - the defaults of {@link NetworkOptions}: a new two-AZ VPC
   */
  readonly network?: NetworkOptions;

  /**
   * The session registry (ElastiCache).
   *
   * @default - the defaults of {@link SessionStoreClusterOptions}
   */
  readonly sessionStore?: SessionStoreClusterOptions;

  /**
   * The load balancer in front of the masters.
   *
   * @default - the defaults of {@link SignalingLoadBalancerOptions}: HTTP only, with a synth warning
   */
  readonly loadBalancer?: SignalingLoadBalancerOptions;

  /**
   * The signaling masters.
   *
   * @default - the defaults of {@link MasterFleetOptions}
   */
  readonly masters?: MasterFleetOptions;

  /**
   * The media nodes.
   *
   * @default - the defaults of {@link MediaFleetOptions}
   */
  readonly media?: MediaFleetOptions;

  /**
   * The runtime's settings on both fleets.
   *
   * @default - the defaults of {@link NodeSoftwareOptions}
   */
  readonly runtime?: NodeSoftwareOptions;

  /**
   * The watchdog that flags crashed nodes for replacement.
   *
   * @default - on, with the defaults of {@link FleetWatchdogOptions}
   */
  readonly watchdog?: RtcHaWatchdogOptions;

  /**
   * The alarm topic and dashboard.
   *
   * @default - no email subscription, a generated dashboard name
   */
  readonly alarms?: ClusterAlarmsProps;
}

/** What {@link RtcHaCluster} decides itself, defaults filled in. */
export interface ResolvedRtcHaClusterOptions {
  /** Whether this is a production cluster. */
  readonly production: boolean;
  /** Whether the watchdog runs. */
  readonly watchdogEnabled: boolean;
  /** The network's options, with what production turns on; undefined with a given `vpc`. */
  readonly network?: NetworkOptions;
  /** The load balancer's options, with what production turns on. */
  readonly loadBalancer: SignalingLoadBalancerOptions;
}

/**
 * `props` with the cluster's own defaults filled in, and those of its parts that follow `production`;
 * each part resolves the rest itself.
 */
export function resolveRtcHaClusterOptions(props: RtcHaClusterProps = {}): ResolvedRtcHaClusterOptions {
  const production = props.production ?? false;
  const { network, loadBalancer: lb = {} } = props;
  return {
    production,
    watchdogEnabled: props.watchdog?.enabled ?? true,
    // An existing VPC may have these endpoints already, and a second private DNS name would clash.
    network: props.vpc
      ? undefined
      : { ...network, vpcEndpoints: network?.vpcEndpoints ?? (production && network?.vpcId === undefined) },
    loadBalancer: {
      ...lb,
      accessLogs: lb.accessLogs ?? production,
      deletionProtection: lb.deletionProtection ?? production,
      allowPlainHttp: lb.allowPlainHttp ?? !production,
      waf: { ...lb.waf, enabled: lb.waf?.enabled ?? production },
    },
  };
}

/**
 * Lists the problems of the props only the cluster sees: how its parts fit together, and the load
 * balancer's options as production leaves them (each part checks the rest itself).
 */
export function checkRtcHaClusterProps(props: RtcHaClusterProps): string[] {
  const problems = new Problems();
  problems.require(
    props.vpc === undefined || props.network === undefined,
    'network',
    'must be left out with vpc: it describes a VPC for the cluster to create or look up',
  );
  const { loadBalancer } = resolveRtcHaClusterOptions(props);
  return [...problems.messages, ...checkSignalingLoadBalancerOptions(loadBalancer, 'loadBalancer.')];
}

/**
 * A whole rtc-ha cluster in one construct, for a stack of your own: masters behind an internet-facing
 * ALB, media nodes (Janus and TURN) in an N+M Auto Scaling group, the session registry in ElastiCache,
 * the secrets both fleets read at boot, the watchdog that flags crashed nodes for replacement, and the
 * alarms and dashboard. It creates a VPC unless given one. Every part is public, so more can be wired
 * in with a few lines (an alarm action, a listener rule, another grant).
 */
export class RtcHaCluster extends Construct {
  /** The network construct; absent when the cluster was given a `vpc`. */
  public readonly network?: Network;

  /** The VPC the cluster runs in. */
  public readonly vpc: ec2.IVpc;

  /** The alarm topic and dashboard. */
  public readonly alarms: ClusterAlarms;

  /** The customer managed key of every log group of the cluster (nodes, watchdog, VPC flow logs). */
  public readonly logsKey: kms.Key;

  /** The customer managed key of every secret the cluster generates. */
  public readonly secretsKey: kms.Key;

  /** The REST API secret (`RTC_API_SECRET`): the masters and the API clients hold it. */
  public readonly apiSecret: secretsmanager.Secret;

  /** The media control channel's secret (`RTC_MEDIA_CONTROL_SECRET`): masters and media agents hold it. */
  public readonly mediaControlSecret: secretsmanager.Secret;

  /**
   * TURN's shared secret (`RTC_TURN_SECRET`): the media nodes' coturn checks the credentials masters sign
   * with it. Absent when TURN is off (`media.turn.enabled` false).
   */
  public readonly turnSecret?: secretsmanager.Secret;

  /** The session registry (ElastiCache). */
  public readonly sessionStore: SessionStoreCluster;

  /** The load balancer in front of the masters. */
  public readonly loadBalancer: SignalingLoadBalancer;

  /** The signaling masters. */
  public readonly masterFleet: MasterFleet;

  /** The media nodes. */
  public readonly mediaFleet: MediaFleet;

  /** The watchdog that flags crashed masters and media nodes; absent when `watchdog.enabled` is false. */
  public readonly watchdog?: FleetWatchdog;

  constructor(scope: Construct, id: string, props: RtcHaClusterProps = {}) {
    super(scope, id);
    throwIfProblems('RtcHaCluster props', checkRtcHaClusterProps(props));
    const resolved = resolveRtcHaClusterOptions(props);

    this.logsKey = customerManagedKey(this, 'LogsKey', 'rtc-ha log groups (nodes, watchdog, VPC flow logs)');
    allowCloudWatchLogs(this.logsKey);
    this.secretsKey = customerManagedKey(
      this,
      'SecretsKey',
      'rtc-ha secrets (API, media control, TURN, AUTH token)',
    );

    if (props.vpc) {
      this.vpc = props.vpc;
    } else {
      this.network = new Network(this, 'Network', { ...resolved.network, logEncryptionKey: this.logsKey });
      this.vpc = this.network.vpc;
    }
    this.alarms = new ClusterAlarms(this, 'Alarms', props.alarms);

    this.apiSecret = this.sharedSecret(
      'ApiSecret',
      'rtc-ha REST API secret',
      'Every master reads the API secret at boot and API clients hold it too, so a rotation ' +
        'is a coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
    );
    this.mediaControlSecret = this.sharedSecret(
      'MediaControlSecret',
      'rtc-ha media control channel secret (masters to media agents)',
      'Both fleets read the media control secret at boot and each end of the channel must hold the same ' +
        'value, so a rotation is a coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
    );
    const turn = resolveMediaFleetOptions(props.media).turn;
    if (turn.enabled) {
      this.turnSecret = this.sharedSecret(
        'TurnSecret',
        'rtc-ha TURN shared secret (masters sign credentials, media nodes check them)',
        'Both fleets read the TURN secret at boot and must hold the same value, so a rotation is a ' +
          'coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
      );
    }

    this.sessionStore = new SessionStoreCluster(this, 'SessionStore', {
      ...props.sessionStore,
      vpc: this.vpc,
      authTokenEncryptionKey: this.secretsKey,
    });

    this.loadBalancer = new SignalingLoadBalancer(this, 'LoadBalancer', {
      ...resolved.loadBalancer,
      vpc: this.vpc,
      targetPort: resolveMasterFleetOptions(props.masters).port,
      // A leaving master drains while the load balancer deregisters it (Auto Scaling deregisters before
      // the termination hook): its sockets must outlast the drain, so it can tell clients to resume elsewhere.
      deregistrationDelay: drainTimeout(props.runtime),
    });

    const shared = {
      vpc: this.vpc,
      sessionStore: this.sessionStore,
      runtime: props.runtime,
      notificationTopic: this.alarms.topic,
      logEncryptionKey: this.logsKey,
    };
    this.masterFleet = new MasterFleet(this, 'Masters', {
      ...props.masters,
      ...shared,
      apiSecret: this.apiSecret,
      mediaControlSecret: this.mediaControlSecret,
      turn: this.turnSecret && { secret: this.turnSecret, port: turn.port, tlsHostName: turn.tlsHostName },
      targetGroup: this.loadBalancer.targetGroup,
    });
    this.mediaFleet = new MediaFleet(this, 'Media', {
      ...props.media,
      ...shared,
      controlSecret: this.mediaControlSecret,
      turnSecret: this.turnSecret,
    });
    this.mediaFleet.allowControlFrom(this.masterFleet);

    this.alarms.monitorLoadBalancer(this.loadBalancer);
    this.alarms.monitorFleet('Masters', this.masterFleet);
    this.alarms.monitorFleet('Media', this.mediaFleet);
    this.alarms.monitorSessionStore(this.sessionStore);

    if (resolved.watchdogEnabled) {
      this.watchdog = this.addWatchdog(props);
      this.alarms.monitorWatchdog(this.watchdog);
    }
  }

  /** docs/architecture.md rule 2: the fleets use EC2 health checks, and only the watchdog flags instances. */
  private addWatchdog(props: RtcHaClusterProps): FleetWatchdog {
    const { masters, media, cycle, holdAlarmAfter } = props.watchdog ?? {};
    return new FleetWatchdog(this, 'Watchdog', {
      cycle,
      holdAlarmAfter,
      vpc: this.vpc,
      sessionStore: this.sessionStore,
      masters: { ...masters, fleet: this.masterFleet },
      media: { ...media, fleet: this.mediaFleet },
      alarms: this.alarms,
      keyPrefix: props.runtime?.keyPrefix,
      logEncryptionKey: this.logsKey,
    });
  }

  /**
   * A generated secret both ends of something hold, under the secrets key, rotated by a runbook (cdk-nag's
   * SMG4 acknowledged).
   */
  private sharedSecret(id: string, description: string, rotationReason: string): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      description,
      encryptionKey: this.secretsKey,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: rotationReason });
    return secret;
  }
}
