import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { RtcHaCluster } from '../../constructs/cluster';
import { clusterProps, RtcHaConfig } from '../config';

/** Props of {@link ClusterStack}. */
export interface ClusterStackProps extends StackProps {
  /** The validated deployment configuration. */
  readonly config: RtcHaConfig;
}

/**
 * The rtc-ha app's stack: one {@link RtcHaCluster} built from the deployment configuration, and the
 * outputs an operator needs.
 */
export class ClusterStack extends Stack {
  /** The configuration the stack was built from. */
  public readonly config: RtcHaConfig;

  /** The cluster. */
  public readonly cluster: RtcHaCluster;

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id, {
      description:
        'rtc-ha: highly available WebRTC cluster (signaling masters, media nodes, session registry)',
      ...props,
    });
    this.config = props.config;
    // Its id is `Default`, which logical ids leave out: the resources keep the ids they had when the
    // stack built them itself, so a stack deployed before the construct existed updates in place.
    this.cluster = new RtcHaCluster(this, 'Default', clusterProps(props.config));
    this.addOutputs();
  }

  private addOutputs(): void {
    const { loadBalancer, apiSecret, mediaControlSecret, turnSecret, sessionStore } = this.cluster;
    const { masterFleet, mediaFleet, alarms, watchdog } = this.cluster;
    const outputs: Record<string, [string, string]> = {
      SignalingUrl: [loadBalancer.signalingUrl, 'WebSocket base URL clients connect to'],
      RestUrl: [loadBalancer.restUrl, 'REST API base URL'],
      LoadBalancerDnsName: [
        loadBalancer.loadBalancer.loadBalancerDnsName,
        'Point loadBalancer.domainName here (CNAME or alias record)',
      ],
      ApiSecretArn: [apiSecret.secretArn, 'Secrets Manager secret holding the REST API secret'],
      MediaControlSecretArn: [
        mediaControlSecret.secretArn,
        "Secrets Manager secret holding the media control channel's secret",
      ],
      ...(turnSecret
        ? {
            TurnSecretArn: [turnSecret.secretArn, "Secrets Manager secret holding TURN's shared secret"] as [
              string,
              string,
            ],
          }
        : {}),
      SessionStoreAuthTokenArn: [
        sessionStore.authToken.secretArn,
        'Secrets Manager secret holding the AUTH token',
      ],
      SessionStoreEndpoint: [
        `${sessionStore.endpointAddress}:${sessionStore.port}`,
        'Primary endpoint of the session registry (TLS)',
      ],
      MasterAutoScalingGroupName: [masterFleet.autoScalingGroup.autoScalingGroupName, 'Masters group'],
      MediaAutoScalingGroupName: [mediaFleet.autoScalingGroup.autoScalingGroupName, 'Media group'],
      MasterLogGroupName: [masterFleet.logGroup.logGroupName, "Masters' journals (runtime, boot, kernel)"],
      MediaLogGroupName: [mediaFleet.logGroup.logGroupName, "Media nodes' journals (runtime, boot, kernel)"],
      AlarmTopicArn: [alarms.topic.topicArn, 'SNS topic of the alarms'],
      ...(watchdog
        ? {
            WatchdogFunctionName: [
              watchdog.lambdaFunction.functionName,
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
