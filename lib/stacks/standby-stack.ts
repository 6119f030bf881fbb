import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { StandbyPair, StandbyPairOptions } from '../../constructs/standby-pair';

/** Props of {@link StandbyStack}: the pair's options, and the VPC's. */
export interface StandbyStackProps extends StackProps, StandbyPairOptions {
  /**
   * IPv4 CIDR block of the pair's VPC (two public /24 subnets, no NAT gateway).
   *
   * @default '10.41.0.0/16'
   */
  readonly vpcCidr?: string;
}

/**
 * The active-standby topology as a stack of its own (docs/topologies.md): a VPC with one public subnet
 * in each of two Availability Zones (no NAT gateway, flow logs on), and a {@link StandbyPair}.
 */
export class StandbyStack extends Stack {
  public readonly vpc: ec2.Vpc;
  public readonly pair: StandbyPair;

  constructor(scope: Construct, id: string, props: StandbyStackProps = {}) {
    super(scope, id, {
      description:
        'rtc-ha: highly available WebRTC signaling as an active-standby pair (two nodes, an Elastic IP)',
      ...props,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr ?? '10.41.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        All: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_YEAR }),
          ),
        },
      },
    });
    this.pair = new StandbyPair(this, 'Pair', { ...props, vpc: this.vpc });

    const { pair } = this;
    const outputs: Record<string, [string, string]> = {
      SignalingUrl: [pair.signalingUrl, 'WebSocket URL clients connect to (the Elastic IP)'],
      RestUrl: [pair.restUrl, 'REST API base URL'],
      ElasticIp: [pair.elasticIp.ref, 'The address the active node holds'],
      ApiSecretArn: [pair.apiSecret.secretArn, 'Secrets Manager secret holding the REST API secret'],
      PreferredNodeId: [pair.instances[0].instanceId, 'The preferred node (active unless it failed)'],
      OtherNodeId: [pair.instances[1].instanceId, 'The other node (standby unless the preferred one failed)'],
      LogGroupName: [pair.logGroup.logGroupName, "The nodes' journals (runtime, agent, keepalived)"],
    };
    for (const [outputId, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, outputId, { value, description });
    }
  }
}
