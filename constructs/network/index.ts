import { Annotations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { concrete, Problems, throwIfProblems } from '../shared/problems';

/** The part of {@link NetworkProps} that deployment config sets. */
export interface NetworkOptions {
  /**
   * An existing VPC to use instead of creating one. It is looked up at synth, so the stack needs an
   * explicit account and region, and it must have public and private (with egress) subnets in at
   * least two Availability Zones. The other options are then ignored.
   *
   * @default - a new VPC
   */
  readonly vpcId?: string;

  /**
   * IPv4 CIDR block of the new VPC.
   *
   * @default '10.40.0.0/16'
   */
  readonly cidr?: string;

  /**
   * Availability Zones of the new VPC: two or three names in the stack's region. Naming them is the
   * only way to get three AZs without a context lookup.
   *
   * @default - the first two AZs of the region, resolved at deploy time
   */
  readonly availabilityZones?: string[];

  /**
   * NAT gateways for the private subnets' egress, from 1 to one per AZ. Fewer than one per AZ saves
   * cost but makes booting masters in the other AZs depend on the NAT gateway's AZ.
   *
   * @default 1
   */
  readonly natGateways?: number;

  /**
   * Prefix length of every subnet; the VPC gets one public and one private subnet per AZ.
   *
   * @default 24
   */
  readonly subnetCidrMask?: number;
}

/** Props of {@link Network}. */
export interface NetworkProps extends NetworkOptions {
  /**
   * How long VPC flow logs are kept in CloudWatch Logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/** {@link NetworkOptions} with every default filled in; the unset ones stay unset. */
export interface ResolvedNetworkOptions extends NetworkOptions {
  readonly cidr: string;
  readonly natGateways: number;
  readonly subnetCidrMask: number;
  /** AZs of a new VPC: as many as `availabilityZones` names, or the default. */
  readonly azCount: number;
}

/** AZs of a new VPC unless `availabilityZones` names them. */
const DEFAULT_AZ_COUNT = 2;
/** Subnet groups of a new VPC: public and private with egress. */
const SUBNETS_PER_AZ = 2;

/** `options` with every default filled in. */
export function resolveNetworkOptions(options: NetworkOptions = {}): ResolvedNetworkOptions {
  return {
    ...options,
    cidr: options.cidr ?? '10.40.0.0/16',
    natGateways: options.natGateways ?? 1,
    subnetCidrMask: options.subnetCidrMask ?? 24,
    azCount: options.availabilityZones?.length ?? DEFAULT_AZ_COUNT,
  };
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkNetworkOptions(options: NetworkOptions, prefix = ''): string[] {
  const problems = new Problems(prefix);
  const {
    availabilityZones: azs,
    azCount,
    cidr,
    natGateways,
    subnetCidrMask: mask,
  } = resolveNetworkOptions(options);
  problems.matches(
    'vpcId',
    options.vpcId,
    /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/,
    'a VPC id like vpc-0123456789abcdef0',
  );
  problems.matches('cidr', cidr, /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 CIDR block like 10.40.0.0/16');
  const cidrPrefix = Number(cidr.split('/')[1]);
  problems.require(
    Number.isNaN(cidrPrefix) || (cidrPrefix >= 16 && cidrPrefix <= 28),
    'cidr',
    `must have a prefix length from /16 to /28 (got /${cidrPrefix})`,
  );
  if (azs) {
    problems.require(
      azCount >= 2 && azCount <= 3,
      'availabilityZones',
      `must name 2 or 3 AZs (got ${azCount})`,
    );
    problems.require(new Set(azs).size === azCount, 'availabilityZones', 'must not repeat an AZ');
    for (const az of azs) {
      problems.matches('availabilityZones', az, /^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/, 'AZ names like eu-west-1a');
    }
  }
  problems.integer('natGateways', natGateways, 1, azCount);
  problems.integer('subnetCidrMask', mask, 16, 28);
  if (concrete(mask, cidrPrefix)) {
    const subnets = SUBNETS_PER_AZ * azCount;
    problems.require(
      mask > cidrPrefix && 2 ** (mask - cidrPrefix) >= subnets,
      'subnetCidrMask',
      `/${mask} leaves room for ${mask > cidrPrefix ? 2 ** (mask - cidrPrefix) : 0} subnets in a /${cidrPrefix} VPC, ` +
        `but ${azCount} AZs need ${subnets} (one public and one private per AZ)`,
    );
  }
  return problems.messages;
}

/**
 * The cluster's network: a new VPC with one public and one private (NAT egress) subnet per AZ and
 * flow logs, or an existing VPC found by id.
 */
export class Network extends Construct {
  /** The VPC every other construct is placed in. */
  public readonly vpc: ec2.IVpc;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    throwIfProblems('Network props', checkNetworkOptions(props));

    if (props.vpcId) {
      this.vpc = ec2.Vpc.fromLookup(this, 'Resource', { vpcId: props.vpcId });
      this.checkExistingVpc();
      return;
    }

    const { cidr, natGateways, subnetCidrMask: cidrMask, azCount } = resolveNetworkOptions(props);
    const vpc = new ec2.Vpc(this, 'Resource', {
      ipAddresses: ec2.IpAddresses.cidr(cidr),
      ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : { maxAzs: azCount }),
      natGateways,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask, mapPublicIpOnLaunch: false },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask },
      ],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    this.vpc = vpc;

    if (natGateways < azCount) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:singleNatGateway',
        `${natGateways} NAT gateway(s) for ${azCount} AZs: if a NAT gateway's AZ fails, nodes booting in the ` +
          'other AZs cannot reach S3, SSM or Secrets Manager. Set natGateways to one per AZ in production.',
      );
    }
  }

  /** An existing VPC must offer what the fleets need. Lookups return dummy values until resolved. */
  private checkExistingVpc(): void {
    const problems = new Problems();
    problems.require(
      this.vpc.publicSubnets.length >= 2,
      'vpcId',
      'must have public subnets in at least 2 AZs',
    );
    problems.require(
      this.vpc.privateSubnets.length >= 2,
      'vpcId',
      'must have private subnets with egress in at least 2 AZs',
    );
    throwIfProblems('Network props', problems.messages);
  }
}
