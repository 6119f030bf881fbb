import * as path from 'node:path';
import { Annotations, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { DEFAULT_MEDIA_PORT_RANGE, DEFAULT_PORTS } from '../../runtime/contract/timings';
import { DEFAULT_TURN_PORT } from '../../runtime/contract/turn';
import { STANDBY_DEFAULTS } from '../../runtime/standby/defaults';
import { NodeImage } from '../node-image';
import { NodeSoftware, resolveNodeSoftwareOptions } from '../node-software';
import { acknowledgeControl, allowCloudWatchLogs, customerManagedKey } from '../shared/controls';
import { allowSessionManager } from '../shared/session-manager';
import { DNS_NAME, INSTANCE_TYPE, IPV4, LOG_RETENTION_DAYS, SECRET_COMPLETE_ARN } from '../shared/patterns';
import { FieldNames, Problems, throwIfProblems } from '../shared/problems';

/** TLS on the pair: the master serves HTTPS and WSS itself, and coturn TURN over TLS, with one certificate. */
export interface StandbyPairTlsOptions {
  /**
   * Complete ARN of a Secrets Manager secret whose SecretString is a PEM bundle: the certificate for
   * {@link domainName}, its chain, and the unencrypted private key (both nodes read it at boot).
   */
  readonly certificateSecretArn: string;

  /** The name clients use, which the certificate covers; point its DNS A record at the Elastic IP. */
  readonly domainName: string;
}

/** The part of {@link StandbyPairProps} a deployment configuration sets. */
export interface StandbyPairOptions {
  /**
   * Instance type of both nodes; its architecture is the node image's. The default encrypts traffic
   * between the nodes (the store's replication) on the Nitro system; a t4g is cheaper and does not.
   *
   * @default m7g.medium
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * `automatic`: the preferred node (the first) takes the address back once it is healthy and caught
   * up, after {@link preemptDelay}. `manual`: the node that took over keeps it until it fails or an
   * operator restarts its keepalived.
   *
   * @default 'automatic'
   */
  readonly failback?: 'automatic' | 'manual';

  /**
   * How long the preferred node waits, healthy and caught up, before it takes the address back
   * (automatic failback; whole seconds, 0 to 1000).
   *
   * @default Duration.seconds(STANDBY_DEFAULTS.preemptDelayS) (10 s)
   */
  readonly preemptDelay?: Duration;

  /**
   * Private IPv4 address of each node, the preferred first, each in its subnet: the pair link's
   * addresses (VRRP, store replication, the agents' status), fixed so each node can name its peer.
   *
   * @default - the tenth address of each node's subnet (the subnets' CIDR blocks must be known at synth)
   */
  readonly privateAddresses?: string[];

  /**
   * Who may reach the signaling port (REST and WebSocket) on the Elastic IP. Media (Janus's UDP range
   * and TURN) stays open to any address: a client's media comes from wherever its network puts it.
   *
   * @default ec2.Peer.anyIpv4()
   */
  readonly clients?: ec2.IPeer;

  /**
   * Days the nodes' journals are kept: one of CloudWatch Logs' retention periods.
   *
   * @default 365
   */
  readonly logRetentionDays?: number;

  /**
   * TLS for signaling (`wss://<domainName>:8080/ws`) and TURN (`turns:` on 443).
   *
   * @default - none: plain HTTP and WebSocket on the Elastic IP (synth warns)
   */
  readonly tls?: StandbyPairTlsOptions;
}

/** {@link StandbyPairOptions} with the defaults filled in (the pair addresses stay as given). */
export interface ResolvedStandbyPairOptions extends Required<
  Omit<StandbyPairOptions, 'privateAddresses' | 'clients' | 'tls'>
> {
  readonly privateAddresses?: string[];
  readonly clients: ec2.IPeer;
  readonly tls?: StandbyPairTlsOptions;
}

/** `options` with every default filled in: what {@link StandbyPair} builds and its check checks. */
export function resolveStandbyPairOptions(options: StandbyPairOptions = {}): ResolvedStandbyPairOptions {
  return {
    ...options,
    instanceType: options.instanceType ?? new ec2.InstanceType('m7g.medium'),
    failback: options.failback ?? 'automatic',
    preemptDelay: options.preemptDelay ?? Duration.seconds(STANDBY_DEFAULTS.preemptDelayS),
    clients: options.clients ?? ec2.Peer.anyIpv4(),
    logRetentionDays: options.logRetentionDays ?? 365,
  };
}

/**
 * Lists every problem of `options` (what needs no VPC to check), field names prefixed with `prefix`
 * and renamed by `names` where the caller spells them differently.
 */
export function checkStandbyPairOptions(
  options: StandbyPairOptions,
  prefix = '',
  names: FieldNames = {},
): string[] {
  const problems = new Problems(prefix, names);
  const resolved = resolveStandbyPairOptions(options);
  problems.matches(
    'instanceType',
    resolved.instanceType.toString(),
    INSTANCE_TYPE,
    'an EC2 instance type like t4g.small',
  );
  problems.require(
    ['automatic', 'manual'].includes(resolved.failback),
    'failback',
    `must be automatic or manual (got "${resolved.failback}")`,
  );
  problems.duration('preemptDelay', resolved.preemptDelay, 'seconds', 0, 1_000);
  const addresses = options.privateAddresses;
  if (addresses) {
    problems.require(
      addresses.length === 2,
      'privateAddresses',
      `must name two addresses, the preferred node's first (got ${addresses.length})`,
    );
    for (const address of addresses) {
      problems.matches('privateAddresses', address, IPV4, 'IPv4 addresses');
    }
    problems.require(
      addresses.length !== 2 || Token.isUnresolved(addresses[0]) || addresses[0] !== addresses[1],
      'privateAddresses',
      'must name two different addresses',
    );
  }
  problems.require(
    Token.isUnresolved(resolved.logRetentionDays) || LOG_RETENTION_DAYS.includes(resolved.logRetentionDays),
    'logRetentionDays',
    `must be one of CloudWatch Logs' retention periods (${LOG_RETENTION_DAYS.join(', ')} days; got ${resolved.logRetentionDays})`,
  );
  if (options.tls) {
    problems.matches(
      'tls.certificateSecretArn',
      options.tls.certificateSecretArn,
      SECRET_COMPLETE_ARN,
      "a Secrets Manager secret's complete ARN (with the 6 characters after its name)",
    );
    problems.matches(
      'tls.domainName',
      options.tls.domainName,
      DNS_NAME,
      'a lowercase DNS name like rtc.example.org',
    );
  }
  return problems.messages;
}

/** Props of {@link StandbyPair}. */
export interface StandbyPairProps extends StandbyPairOptions {
  /** The VPC; the nodes sit in two of its public subnets, in two Availability Zones. */
  readonly vpc: ec2.IVpc;

  /**
   * The two nodes' subnets: the first two selected, in different Availability Zones, public (each node
   * has a public IPv4 to reach the AWS APIs, as the pair has no NAT gateway).
   *
   * @default - the VPC's public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The REST API secret (`RTC_API_SECRET`).
   *
   * @default - a new generated secret
   */
  readonly apiSecret?: secretsmanager.ISecret;

  /**
   * The KMS key the nodes' log group is encrypted with.
   *
   * @default - a new customer managed key ({@link StandbyPair.logsKey})
   */
  readonly logEncryptionKey?: kms.IKey;
}

/**
 * The signaling port clients reach on the Elastic IP (REST and WebSocket, TLS with `tls`): not 8080,
 * which Control Tower counts among the high-risk ports never to open to the internet (CT.EC2.PR.4).
 */
export const PAIR_SIGNALING_PORT = 8443;
const PORT = PAIR_SIGNALING_PORT;
const MEDIA_PORT = DEFAULT_PORTS.media;
const STATE_DIR = '/run/rtc-ha-standby';
/** The media agent's own runtime directory on a pair node (rtc-ha-media.service), Janus's config in it. */
const JANUS_CONFIG_DIR = '/run/rtc-ha-media/janus';
/** The interface name Debian 12 gives the primary ENI on Nitro instances. */
const INTERFACE = 'ens5';
/** Where in its subnet a node sits unless privateAddresses says otherwise (AWS reserves the first four). */
const DEFAULT_HOST_INDEX = 10;

/**
 * An active-standby pair (docs/topologies.md): two instances in two Availability Zones and an Elastic
 * IP the active one holds, for deployments that want neither a load balancer nor a managed cache nor
 * NAT. Each node runs the master runtime, a media agent with Janus and coturn, its own session store
 * (redis-server, the active's replicated to the standby), keepalived (unicast VRRP) and the standby
 * agent (runtime/standby), which promotes or demotes the store, moves the Elastic IP (AssociateAddress,
 * allowed on this allocation and these two instances only) and tells the runtime whether to serve.
 * Clients use {@link signalingUrl} and resume there after a failover with the same SDK; their media
 * goes to the active node's Janus through the same address.
 *
 * The nodes boot from a `pair` node image ({@link NodeImage}): the one program that is the master, the
 * media agent or rtc-standby by its arguments (runtime/standby/node-main.ts), with Janus, coturn,
 * keepalived and redis-server baked in, so a node fetches nothing at boot. User data only runs
 * `rtc-ha-node configure`, which writes keepalived's and the store's configuration through that program
 * at every boot and starts everything.
 */
export class StandbyPair extends Construct implements ec2.IConnectable {
  /** The two nodes, the preferred first. */
  public readonly instances: ec2.Instance[];

  /** The address clients use, held by the active node. */
  public readonly elasticIp: ec2.CfnEIP;

  /** Both nodes' security group: signaling and media for clients, the pair link between themselves. */
  public readonly securityGroup: ec2.SecurityGroup;

  /** Both nodes' role. */
  public readonly role: iam.Role;

  /** The REST API secret. */
  public readonly apiSecret: secretsmanager.ISecret;

  /** The session stores' password (requirepass and masterauth on both). */
  public readonly storePassword: secretsmanager.Secret;

  /** The media control channel's shared secret (the masters' and the media agents'). */
  public readonly mediaControlSecret: secretsmanager.Secret;

  /** TURN's shared secret: coturn checks the credentials the masters sign with it. */
  public readonly turnSecret: secretsmanager.Secret;

  /** The software both nodes run, and its settings parameter (the master's and the standby agent's). */
  public readonly software: NodeSoftware;

  /** The node image. */
  public readonly image: NodeImage;

  /** The media agents' settings (their own port, Janus, TURN). */
  public readonly mediaSettings: ssm.StringParameter;

  /** The nodes' journals. */
  public readonly logGroup: logs.LogGroup;

  /** The key of the nodes' log group: `logEncryptionKey`, or one of the pair's own. */
  public readonly logsKey: kms.IKey;

  /** `wss://<tls.domainName>:8443/ws`, or `ws://<Elastic IP>:8443/ws` without TLS. */
  public readonly signalingUrl: string;

  /** The REST API: `https://<tls.domainName>:8443`, or `http://<Elastic IP>:8443` without TLS. */
  public readonly restUrl: string;

  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: StandbyPairProps) {
    super(scope, id);
    const options = resolveStandbyPairOptions(props);
    const subnets = props.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PUBLIC },
    ).subnets;
    const addresses = props.privateAddresses ?? subnets.slice(0, 2).map(defaultAddress);
    throwIfProblems('StandbyPair props', [
      ...checkStandbyPairOptions(props),
      ...checkPlacement(subnets, props.privateAddresses ? undefined : addresses),
    ]);
    const stack = Stack.of(this);

    this.logsKey = props.logEncryptionKey ?? pairLogsKey(this);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: options.logRetentionDays,
      encryptionKey: this.logsKey,
    });
    this.apiSecret =
      props.apiSecret ?? generatedSecret(this, 'ApiSecret', 'rtc-ha pair: the REST API secret');
    this.storePassword = generatedSecret(this, 'StorePassword', "rtc-ha pair: the session stores' password");
    this.mediaControlSecret = generatedSecret(
      this,
      'MediaControlSecret',
      "rtc-ha pair: the media control channel's secret",
    );
    this.turnSecret = generatedSecret(this, 'TurnSecret', "rtc-ha pair: TURN's shared secret");
    const tlsSecret =
      options.tls &&
      secretsmanager.Secret.fromSecretCompleteArn(this, 'TlsCertificate', options.tls.certificateSecretArn);
    this.elasticIp = new ec2.CfnEIP(this, 'ElasticIp', { domain: 'vpc' });
    const serviceAddress = this.elasticIp.ref; // Ref of an EIP is its public address
    const host = options.tls?.domainName ?? serviceAddress;
    this.signalingUrl = `${options.tls ? 'wss' : 'ws'}://${host}:${PORT}/ws`;
    this.restUrl = `${options.tls ? 'https' : 'http'}://${host}:${PORT}`;
    const store = `redis://127.0.0.1:${STANDBY_DEFAULTS.storePort}`;

    this.mediaSettings = new ssm.StringParameter(this, 'MediaSettings', {
      description: "rtc-ha pair: the media agents' non-secret RTC_* variables, read at boot",
      stringValue: [
        `RTC_PORT=${MEDIA_PORT}`,
        `RTC_REDIS_URL=${store}`,
        `RTC_KEY_PREFIX=${resolveNodeSoftwareOptions().keyPrefix}`,
        'RTC_JANUS=on',
        `RTC_JANUS_CONFIG_DIR=${JANUS_CONFIG_DIR}`,
        `RTC_MEDIA_PORT_MIN=${DEFAULT_MEDIA_PORT_RANGE.min}`,
        `RTC_MEDIA_PORT_MAX=${DEFAULT_MEDIA_PORT_RANGE.max}`,
        `RTC_TURN_PORT=${DEFAULT_TURN_PORT}`,
      ].join('\n'),
    });
    this.software = new NodeSoftware(this, 'Software', {
      role: 'master',
      entry: path.join(__dirname, '..', '..', 'runtime', 'standby', 'node-main.ts'),
      port: PORT,
      logGroup: this.logGroup,
      environment: {
        RTC_REDIS_URL: store,
        RTC_SERVE_LEASE_FILE: `${STATE_DIR}/serve.json`,
        RTC_TURN_PORT: String(DEFAULT_TURN_PORT),
        ...(options.tls ? { RTC_TURN_TLS_HOST: options.tls.domainName } : {}),
        RTC_STANDBY_DIR: STATE_DIR,
        RTC_STANDBY_PAIR_ADDRESSES: addresses.join(','),
        RTC_STANDBY_INTERFACE: INTERFACE,
        RTC_STANDBY_EIP_ALLOCATION_ID: this.elasticIp.attrAllocationId,
        RTC_STANDBY_PEER_SERVICE_URL: `${this.restUrl}/ready`,
        RTC_STANDBY_RUNTIME_PORT: String(PORT),
        RTC_STANDBY_RUNTIME_SCHEME: options.tls ? 'https' : 'http',
        RTC_STANDBY_FAILBACK: options.failback,
        RTC_STANDBY_PREEMPT_DELAY_S: String(options.preemptDelay.toSeconds()),
      },
      // One list for the node's three programs: each reads only the variables it knows.
      secrets: {
        RTC_API_SECRET: this.apiSecret,
        RTC_REDIS_AUTH_TOKEN: this.storePassword,
        RTC_STANDBY_STORE_PASSWORD: this.storePassword,
        RTC_MEDIA_CONTROL_SECRET: this.mediaControlSecret,
        RTC_TURN_SECRET: this.turnSecret,
        ...(tlsSecret ? { RTC_TLS_PEM: tlsSecret, RTC_TURN_TLS_PEM: tlsSecret } : {}),
      },
      // The media agent reads its own settings, and advertises the Elastic IP whichever node it is on.
      configureArguments: [
        `--media-set 'RTC_BOOT_SETTINGS_PARAMETER=${this.mediaSettings.parameterName}'`,
        `--media-set 'RTC_BOOT_PUBLIC_ADDRESS=${serviceAddress}'`,
      ],
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'rtc-ha pair nodes',
    });
    allowSessionManager(this, this.role);
    this.software.grantRead(this.role);
    this.mediaSettings.grantRead(this.role);
    this.logGroup.grantWrite(this.role);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'rtc-ha pair nodes: signaling and media for clients, the pair link between the nodes',
      // The AWS APIs (EC2 for the Elastic IP, SSM, Secrets Manager, CloudWatch Logs).
      allowAllOutbound: true,
    });
    this.connections = this.securityGroup.connections;
    this.allowClients(options.clients);
    const self = this.securityGroup;
    const link: [ec2.Port, string][] = [
      [new ec2.Port({ protocol: ec2.Protocol.VRRP, stringRepresentation: 'VRRP' }), 'pair link: VRRP'],
      [ec2.Port.tcp(STANDBY_DEFAULTS.storePort), 'pair link: store replication'],
      [ec2.Port.tcp(STANDBY_DEFAULTS.statusPort), "pair link: the agents' status"],
    ];
    for (const [port, description] of link) self.addIngressRule(self, port, description);
    if (!options.tls) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:standbyPairPlainHttp',
        `The pair serves plain HTTP and WebSocket on its Elastic IP, port ${PORT}: browsers on https pages ` +
          'cannot reach it. Set tls (a certificate in Secrets Manager and its domain name), or use it for trials.',
      );
    }

    this.image = new NodeImage(this, 'Image', {
      vpc: props.vpc,
      role: 'pair',
      script: this.software.script,
      app: this.software.app,
      architecture: options.instanceType.architecture,
      vpcSubnets: { subnets: [subnets[0]] },
    });

    this.instances = subnets.slice(0, 2).map(
      (subnet, i) =>
        new ec2.Instance(this, `Node${i + 1}`, {
          vpc: props.vpc,
          vpcSubnets: { subnets: [subnet] },
          instanceType: options.instanceType,
          machineImage: this.image.machineImage,
          role: this.role,
          securityGroup: this.securityGroup,
          privateIpAddress: addresses[i],
          associatePublicIpAddress: true,
          userData: this.software.userData,
          // On the instance itself: requireImdsv2 would add a launch template without detailed monitoring.
          httpTokens: ec2.HttpTokens.REQUIRED,
          detailedMonitoring: true,
          blockDevices: [
            {
              deviceName: '/dev/xvda',
              volume: ec2.BlockDeviceVolume.ebs(16, {
                encrypted: true,
                volumeType: ec2.EbsDeviceVolumeType.GP3,
              }),
            },
          ],
        }),
    );
    for (const instance of this.instances) {
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC29',
        reason:
          'A new node image or settings replace a node through CloudFormation; termination protection would ' +
          'block that. The pair survives the loss of either node.',
      });
      acknowledgeControl(
        instance,
        'CT.EC2.PR.8',
        'The pair has no NAT gateway: each node reaches the AWS APIs (the Elastic IP move, SSM, Secrets ' +
          "Manager, CloudWatch Logs) through its own public address; the active one's becomes the Elastic IP. " +
          'Its security group opens only signaling, Janus and TURN.',
      );
    }
    this.grantAddressMoves(stack);
  }

  /**
   * Signaling from `clients`; media from anyone: Janus's UDP range and TURN on UDP and TCP (TLS too),
   * where clients reach the active node through the Elastic IP.
   */
  private allowClients(clients: ec2.IPeer): void {
    const group = this.securityGroup;
    const anyone = ec2.Peer.anyIpv4();
    const { min, max } = DEFAULT_MEDIA_PORT_RANGE;
    group.addIngressRule(clients, ec2.Port.tcp(PORT), 'clients: REST and WebSocket');
    group.addIngressRule(anyone, ec2.Port.udpRange(min, max), 'WebRTC media from clients to Janus (UDP)');
    group.addIngressRule(
      anyone,
      ec2.Port.udp(DEFAULT_TURN_PORT),
      `TURN from clients (UDP ${DEFAULT_TURN_PORT})`,
    );
    group.addIngressRule(
      anyone,
      ec2.Port.tcp(DEFAULT_TURN_PORT),
      `TURN from clients, TLS too (TCP ${DEFAULT_TURN_PORT})`,
    );
    Validations.of(group).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'WebRTC media must reach Janus from any client address, and clients behind NATs and firewalls TURN: ' +
        "only Janus's UDP range and TURN's port are open to all; signaling is open to the `clients` prop.",
    });
    acknowledgeControl(
      group,
      'CT.EC2.PR.3',
      "WebRTC media reaches the active node's Janus from any client address on the UDP range of its ICE " +
        'candidates, and TURN on its port; no load balancer fronts them.',
    );
  }

  /** Lets the nodes move the Elastic IP: this allocation, onto these two instances only. */
  private grantAddressMoves(stack: Stack): void {
    // Its own policy, not the role's: the instances depend on the role, and this names them.
    const addressPolicy = new iam.Policy(this, 'AddressPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['ec2:AssociateAddress'],
          resources: [
            stack.formatArn({
              service: 'ec2',
              resource: 'elastic-ip',
              resourceName: this.elasticIp.attrAllocationId,
            }),
            ...this.instances.map((n) =>
              stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: n.instanceId }),
            ),
          ],
        }),
        new iam.PolicyStatement({ actions: ['ec2:DescribeAddresses'], resources: ['*'] }),
      ],
    });
    Validations.of(addressPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeAddresses has no resource-level permissions; the agents read who holds the Elastic IP with it.',
    });
  }
}

/** The problems of where the nodes go: two subnets in two AZs, and addresses derived from them. */
function checkPlacement(
  subnets: readonly ec2.ISubnet[],
  derivedAddresses: readonly (string | undefined)[] | undefined,
): string[] {
  const problems = new Problems();
  problems.require(
    subnets.length >= 2 && subnets[0].availabilityZone !== subnets[1].availabilityZone,
    'vpcSubnets',
    `must select two subnets in different Availability Zones (got ${subnets.length})`,
  );
  problems.require(
    !derivedAddresses || subnets.length < 2 || derivedAddresses.every((a) => a !== undefined),
    'privateAddresses',
    "required when the subnets' CIDR blocks are not known at synth",
  );
  return problems.messages;
}

/** The tenth address of `subnet` (undefined when its CIDR block is a token or missing). */
function defaultAddress(subnet: ec2.ISubnet): string | undefined {
  let cidr: string | undefined;
  try {
    cidr = subnet.ipv4CidrBlock;
  } catch {
    return undefined; // an imported subnet without its CIDR block
  }
  if (!cidr || Token.isUnresolved(cidr)) return undefined;
  return hostOf(cidr, DEFAULT_HOST_INDEX);
}

/** The `index`th address of an IPv4 CIDR block (pure). */
export function hostOf(cidr: string, index: number): string {
  const [base] = cidr.split('/');
  const value = base.split('.').reduce((n, octet) => n * 256 + Number(octet), 0) + index;
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** A customer managed key for the nodes' log group, which CloudWatch Logs may use. */
function pairLogsKey(scope: Construct): kms.Key {
  const key = customerManagedKey(scope, 'LogsKey', 'rtc-ha pair: log groups');
  allowCloudWatchLogs(key);
  return key;
}

function generatedSecret(scope: Construct, id: string, description: string): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, id, {
    description,
    generateSecretString: { passwordLength: 48, excludePunctuation: true },
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'Both nodes hold it; rotating it is a runbook step (a new value, then restart both nodes one by one).',
  });
  return secret;
}
