import { CfnOutput, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ClusterAlarms } from '../../constructs/alarms';
import { FleetWatchdog } from '../../constructs/fleet-watchdog';
import { MasterFleet } from '../../constructs/master-fleet';
import { MediaFleet, resolveMediaFleetOptions } from '../../constructs/media-fleet';
import { Network } from '../../constructs/network';
import { drainTimeout } from '../../constructs/node-software';
import { SessionStoreCluster } from '../../constructs/session-store-cluster';
import { SignalingLoadBalancer } from '../../constructs/signaling-load-balancer';
import { fleetOptions, RtcHaConfig, watchdogOptions } from '../config';

/** Props of {@link ClusterStack}. */
export interface ClusterStackProps extends StackProps {
  /** The validated deployment configuration. */
  readonly config: RtcHaConfig;
}

/**
 * The active-active rtc-ha cluster: masters behind an ALB, media nodes, the session registry in
 * ElastiCache, the watchdog that flags crashed nodes for replacement, alarms and a dashboard. Every
 * part is public so that more constructs can be wired in with a few lines.
 */
export class ClusterStack extends Stack {
  /** The configuration the stack was built from. */
  public readonly config: RtcHaConfig;

  /** The network construct. */
  public readonly network: Network;

  /** The VPC. */
  public readonly vpc: ec2.IVpc;

  /** The alarm topic and dashboard. */
  public readonly alarms: ClusterAlarms;

  /** The REST API secret (`RTC_API_SECRET`): the masters and the API clients hold it. */
  public readonly apiSecret: secretsmanager.Secret;

  /** The media control channel's secret (`RTC_MEDIA_CONTROL_SECRET`): masters and media agents hold it. */
  public readonly mediaControlSecret: secretsmanager.Secret;

  /**
   * TURN's shared secret (`RTC_TURN_SECRET`): the media nodes' coturn checks the credentials masters sign
   * with it. Absent when `media.turn.enabled` is false.
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

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id, {
      description:
        'rtc-ha: highly available WebRTC cluster (signaling masters, media nodes, session registry)',
      ...props,
    });
    const { config } = props;
    this.config = config;

    this.network = new Network(this, 'Network', config.network);
    this.vpc = this.network.vpc;
    this.alarms = new ClusterAlarms(this, 'Alarms', { email: config.alarms.email });

    this.apiSecret = new secretsmanager.Secret(this, 'ApiSecret', {
      description: 'rtc-ha REST API secret',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(this.apiSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Every master reads the API secret at boot and API clients hold it too, so a rotation ' +
        'is a coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
    });

    this.mediaControlSecret = new secretsmanager.Secret(this, 'MediaControlSecret', {
      description: 'rtc-ha media control channel secret (masters to media agents)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(this.mediaControlSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Both fleets read the media control secret at boot and each end of the channel must hold the same ' +
        'value, so a rotation is a coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
    });

    const media = fleetOptions(config.media);
    const turn = resolveMediaFleetOptions(media).turn;
    if (turn.enabled) {
      this.turnSecret = new secretsmanager.Secret(this, 'TurnSecret', {
        description: 'rtc-ha TURN shared secret (masters sign credentials, media nodes check them)',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
      });
      Validations.of(this.turnSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Both fleets read the TURN secret at boot and must hold the same value, so a rotation is a ' +
          'coordinated runbook step (docs/deploying.md) rather than a scheduled Lambda.',
      });
    }

    this.sessionStore = new SessionStoreCluster(this, 'SessionStore', {
      ...config.sessionStore,
      vpc: this.vpc,
    });

    this.loadBalancer = new SignalingLoadBalancer(this, 'LoadBalancer', {
      ...config.loadBalancer,
      vpc: this.vpc,
      targetPort: config.masters.port,
      // A leaving master drains while the load balancer deregisters it (Auto Scaling deregisters before
      // the termination hook): its sockets must outlast the drain, so it can tell clients to resume elsewhere.
      deregistrationDelay: drainTimeout(config.runtime),
    });

    const shared = {
      vpc: this.vpc,
      sessionStore: this.sessionStore,
      runtime: config.runtime,
      notificationTopic: this.alarms.topic,
    };
    this.masterFleet = new MasterFleet(this, 'Masters', {
      ...fleetOptions(config.masters),
      ...shared,
      apiSecret: this.apiSecret,
      mediaControlSecret: this.mediaControlSecret,
      turn: this.turnSecret && { secret: this.turnSecret, port: turn.port, tlsHostName: turn.tlsHostName },
      targetGroup: this.loadBalancer.targetGroup,
    });
    this.mediaFleet = new MediaFleet(this, 'Media', {
      ...media,
      ...shared,
      controlSecret: this.mediaControlSecret,
      turnSecret: this.turnSecret,
    });
    this.mediaFleet.allowControlFrom(this.masterFleet);

    this.alarms.monitorLoadBalancer(this.loadBalancer);
    this.alarms.monitorFleet('Masters', this.masterFleet);
    this.alarms.monitorFleet('Media', this.mediaFleet);
    this.alarms.monitorSessionStore(this.sessionStore);

    if (config.watchdog.enabled) {
      this.watchdog = this.addWatchdog(config);
      this.alarms.monitorWatchdog(this.watchdog);
    }

    this.addOutputs();
  }

  /** docs/architecture.md rule 2: the fleets use EC2 health checks, and only the watchdog flags instances. */
  private addWatchdog(config: RtcHaConfig): FleetWatchdog {
    const options = watchdogOptions(config.watchdog);
    return new FleetWatchdog(this, 'Watchdog', {
      ...options,
      vpc: this.vpc,
      sessionStore: this.sessionStore,
      masters: { ...options.masters, fleet: this.masterFleet },
      media: { ...options.media, fleet: this.mediaFleet },
      alarms: this.alarms,
      keyPrefix: config.runtime.keyPrefix,
    });
  }

  private addOutputs(): void {
    const outputs: Record<string, [string, string]> = {
      SignalingUrl: [this.loadBalancer.signalingUrl, 'WebSocket base URL clients connect to'],
      RestUrl: [this.loadBalancer.restUrl, 'REST API base URL'],
      LoadBalancerDnsName: [
        this.loadBalancer.loadBalancer.loadBalancerDnsName,
        'Point loadBalancer.domainName here (CNAME or alias record)',
      ],
      ApiSecretArn: [this.apiSecret.secretArn, 'Secrets Manager secret holding the REST API secret'],
      MediaControlSecretArn: [
        this.mediaControlSecret.secretArn,
        "Secrets Manager secret holding the media control channel's secret",
      ],
      ...(this.turnSecret
        ? {
            TurnSecretArn: [
              this.turnSecret.secretArn,
              "Secrets Manager secret holding TURN's shared secret",
            ] as [string, string],
          }
        : {}),
      SessionStoreAuthTokenArn: [
        this.sessionStore.authToken.secretArn,
        'Secrets Manager secret holding the AUTH token',
      ],
      SessionStoreEndpoint: [
        `${this.sessionStore.endpointAddress}:${this.sessionStore.port}`,
        'Primary endpoint of the session registry (TLS)',
      ],
      MasterAutoScalingGroupName: [this.masterFleet.autoScalingGroup.autoScalingGroupName, 'Masters group'],
      MediaAutoScalingGroupName: [this.mediaFleet.autoScalingGroup.autoScalingGroupName, 'Media group'],
      MasterLogGroupName: [
        this.masterFleet.logGroup.logGroupName,
        "Masters' journals (runtime, boot, kernel)",
      ],
      MediaLogGroupName: [
        this.mediaFleet.logGroup.logGroupName,
        "Media nodes' journals (runtime, boot, kernel)",
      ],
      AlarmTopicArn: [this.alarms.topic.topicArn, 'SNS topic of the alarms'],
      ...(this.watchdog
        ? {
            WatchdogFunctionName: [
              this.watchdog.lambdaFunction.functionName,
              'Watchdog Lambda (logs: one line per decision)',
            ] as [string, string],
          }
        : {}),
    };
    for (const [id, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, id, { value, description });
    }
  }
}
