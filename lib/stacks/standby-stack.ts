import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { checkStandbyPairOptions, StandbyPair, StandbyPairOptions } from '../../constructs/standby-pair';
import { IPV4_CIDR } from '../../constructs/shared/patterns';
import { acknowledgeDefaultSecurityGroupHandler } from '../../constructs/shared/controls';
import { FieldNames, Problems, throwIfProblems } from '../../constructs/shared/problems';

/** What a deployment configuration sets of {@link StandbyStack}: the pair's options, and the VPC's. */
export interface StandbyStackOptions extends StandbyPairOptions {
  /**
   * IPv4 CIDR block of the pair's VPC, /16 to /23 (two public /24 subnets, no NAT gateway).
   *
   * @default DEFAULT_VPC_CIDR ('10.41.0.0/16')
   */
  readonly vpcCidr?: string;
}

/** Props of {@link StandbyStack}. */
export interface StandbyStackProps extends StackProps, StandbyStackOptions {}

/** The pair's VPC unless `vpcCidr` says otherwise. */
export const DEFAULT_VPC_CIDR = '10.41.0.0/16';

/** Lists every problem of `options`, field names prefixed with `prefix` and renamed by `names`. */
export function checkStandbyStackOptions(
  options: StandbyStackOptions,
  prefix = '',
  names: FieldNames = {},
): string[] {
  const problems = new Problems(prefix, names);
  const cidr = options.vpcCidr;
  if (cidr !== undefined) {
    const mask = Number(cidr.split('/')[1]);
    problems.require(
      IPV4_CIDR.test(cidr) && mask >= 16 && mask <= 23,
      'vpcCidr',
      `must be an IPv4 CIDR block from /16 to /23, room for two /24 subnets (got "${cidr}")`,
    );
  }
  return [...checkStandbyPairOptions(options, prefix, names), ...problems.messages];
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
        'rtc-ha: highly available WebRTC as an active-standby pair (two nodes with signaling and media, an Elastic IP)',
      ...props,
    });
    throwIfProblems('StandbyStack props', checkStandbyStackOptions(props));
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr ?? DEFAULT_VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      // The nodes ask for their public addresses themselves; nothing else in the VPC gets one.
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
      ],
    });
    this.pair = new StandbyPair(this, 'Pair', { ...props, vpc: this.vpc });
    this.vpc.addFlowLog('FlowLogs', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: logs.RetentionDays.ONE_YEAR,
          encryptionKey: this.pair.logsKey,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    acknowledgeDefaultSecurityGroupHandler(this);

    const { pair } = this;
    const outputs: Record<string, [string, string]> = {
      SignalingUrl: [pair.signalingUrl, 'WebSocket URL clients connect to (through the Elastic IP)'],
      RestUrl: [pair.restUrl, 'REST API base URL'],
      ElasticIp: [
        pair.elasticIp.ref,
        props.tls
          ? `The address the active node holds: point ${props.tls.domainName} here`
          : 'The address the active node holds',
      ],
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
