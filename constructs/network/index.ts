import { Annotations, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeDefaultSecurityGroupHandler } from '../shared/controls';
import { IPV4_CIDR } from '../shared/patterns';
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

  /**
   * Interface endpoints ({@link AwsApiEndpoints}) in the private subnets of every AZ for the AWS APIs the
   * nodes and the watchdog call, so that booting and replacing nodes depend on no NAT gateway. Each costs
   * per AZ and hour. In an existing VPC, leave it off if the VPC has endpoints for these services already.
   *
   * @default false
   */
  readonly vpcEndpoints?: boolean;
}

/** Props of {@link Network}. */
export interface NetworkProps extends NetworkOptions {
  /**
   * How long VPC flow logs are kept in CloudWatch Logs. AWS Control Tower's CT.CLOUDWATCH.PR.2 asks for
   * a year or more.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly flowLogRetention?: logs.RetentionDays;

  /**
   * The customer managed key the flow log group is encrypted with; its key policy must let CloudWatch
   * Logs use it.
   *
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/** {@link NetworkOptions} with every default filled in; the unset ones stay unset. */
export interface ResolvedNetworkOptions extends NetworkOptions {
  readonly cidr: string;
  readonly vpcEndpoints: boolean;
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
    vpcEndpoints: options.vpcEndpoints ?? false,
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
  problems.matches('cidr', cidr, IPV4_CIDR, 'an IPv4 CIDR block like 10.40.0.0/16');
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
 * The AWS services whose APIs rtc-ha's nodes and watchdog call (the `@aws-sdk/client-*` they import):
 * settings, secrets, readiness signals, logs, the drain hook, the media load metric, and the watchdog's
 * view of the fleets and the registry.
 */
export const AWS_API_SERVICES: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  CloudFormation: ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION,
  CloudWatchLogs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  CloudWatch: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  AutoScaling: ec2.InterfaceVpcEndpointAwsService.AUTOSCALING,
  Ec2: ec2.InterfaceVpcEndpointAwsService.EC2,
  ElasticLoadBalancing: ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING,
  ElastiCache: ec2.InterfaceVpcEndpointAwsService.ELASTICACHE,
};

/** Props of {@link AwsApiEndpoints}. */
export interface AwsApiEndpointsProps {
  /** The VPC. */
  readonly vpc: ec2.IVpc;

  /**
   * Where the endpoints' network interfaces go: one subnet per AZ.
   *
   * @default - the VPC's private subnets with egress
   */
  readonly subnets?: ec2.SubnetSelection;

  /**
   * Who may reach the endpoints (HTTPS). With private DNS, every caller in the VPC reaches these APIs
   * through them (image build instances too), so this is the whole VPC unless you know better.
   *
   * @default - the VPC's CIDR block
   */
  readonly clients?: ec2.IPeer;
}

/**
 * Interface endpoints with private DNS for {@link AWS_API_SERVICES}: every instance and function in the
 * VPC, public subnets included, then reaches these APIs inside the VPC, through whichever AZ is up.
 * Each admits HTTPS from the VPC's CIDR block.
 */
export class AwsApiEndpoints extends Construct {
  /** The endpoints, by service. */
  public readonly endpoints: Readonly<Record<string, ec2.InterfaceVpcEndpoint>>;

  constructor(scope: Construct, id: string, props: AwsApiEndpointsProps) {
    super(scope, id);
    const subnets = props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const clients = props.clients ?? ec2.Peer.ipv4(props.vpc.vpcCidrBlock);
    this.endpoints = Object.fromEntries(
      Object.entries(AWS_API_SERVICES).map(([name, service]) => {
        const endpoint = new ec2.InterfaceVpcEndpoint(this, name, {
          vpc: props.vpc,
          service,
          subnets,
          privateDnsEnabled: true,
          open: false,
        });
        endpoint.connections.allowDefaultPortFrom(clients, `${name} API from the VPC`);
        return [name, endpoint];
      }),
    );
  }
}

/**
 * The cluster's network: a new VPC with one public and one private (NAT egress) subnet per AZ and
 * flow logs, or an existing VPC found by id; and, when asked, {@link AwsApiEndpoints} in it.
 */
export class Network extends Construct {
  /** The VPC every other construct is placed in. */
  public readonly vpc: ec2.IVpc;

  /** The AWS API endpoints, when `vpcEndpoints` is on. */
  public readonly apiEndpoints?: AwsApiEndpoints;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    throwIfProblems('Network props', checkNetworkOptions(props));

    if (props.vpcId) {
      this.vpc = ec2.Vpc.fromLookup(this, 'Resource', { vpcId: props.vpcId });
      this.checkExistingVpc();
    } else {
      this.vpc = this.createVpc(props);
    }
    const { vpcEndpoints, cidr } = resolveNetworkOptions(props);
    if (vpcEndpoints) {
      this.apiEndpoints = new AwsApiEndpoints(this, 'ApiEndpoints', {
        vpc: this.vpc,
        // A new VPC's block as written, not its CloudFormation attribute, so the rule can be read at synth.
        clients: props.vpcId ? undefined : ec2.Peer.ipv4(cidr),
      });
    }
  }

  /** The new VPC: subnets, NAT gateways, flow logs, the default security group stripped. */
  private createVpc(props: NetworkProps): ec2.IVpc {
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
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.logEncryptionKey,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    acknowledgeDefaultSecurityGroupHandler(Stack.of(this));

    if (natGateways < azCount && !props.vpcEndpoints) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:singleNatGateway',
        `${natGateways} NAT gateway(s) for ${azCount} AZs: if a NAT gateway's AZ fails, nodes booting in the ` +
          'other AZs cannot reach SSM, Secrets Manager or CloudFormation, nor the watchdog Auto Scaling. Set ' +
          'natGateways to one per AZ, or turn on vpcEndpoints, in production.',
      );
    }
    return vpc;
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
