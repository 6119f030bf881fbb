import * as path from 'node:path';
import { Annotations, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { DEFAULT_PORTS } from '../../runtime/contract/timings';
import { STANDBY_DEFAULTS } from '../../runtime/standby/defaults';
import { NodeImage } from '../node-image';
import { NodeSoftware } from '../node-software';
import { Problems, throwIfProblems } from '../shared/problems';

/** The part of {@link StandbyPairProps} a deployment configuration sets. */
export interface StandbyPairOptions {
  /**
   * Instance type of both nodes; its architecture is the node image's.
   *
   * @default t4g.small
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
   * Who may reach the signaling port (REST and WebSocket) on the Elastic IP.
   *
   * @default ec2.Peer.anyIpv4()
   */
  readonly clients?: ec2.IPeer;

  /**
   * Days the nodes' journals are kept in their log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
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
}

const PORT = DEFAULT_PORTS.master;
const MEDIA_PORT = DEFAULT_PORTS.media;
const PREFIX = '/opt/rtc-ha';
const STATE_DIR = '/run/rtc-ha-standby';
/** The interface name Debian 12 gives the primary ENI on Nitro instances. */
const INTERFACE = 'ens5';
/** Where in its subnet a node sits unless privateAddresses says otherwise (AWS reserves the first four). */
const DEFAULT_HOST_INDEX = 10;

/**
 * An active-standby pair (docs/topologies.md): two instances in two Availability Zones and an Elastic
 * IP the active one holds, for deployments that want neither a load balancer nor a managed cache nor
 * NAT. Each node runs the master runtime, a media agent (without Janus: signaling only, for now), its
 * own session store (redis-server, the active's replicated to the standby), keepalived (unicast VRRP)
 * and the standby agent (runtime/standby), which writes keepalived's configuration at boot, promotes
 * or demotes the store, moves the Elastic IP (AssociateAddress, allowed on this allocation and these
 * two instances only) and tells the runtime whether to serve. Clients use `ws://<Elastic IP>:8080/ws`
 * and resume there after a failover with the same SDK.
 *
 * The nodes boot from the master node image ({@link NodeImage}) with one program that is the master,
 * the media agent or rtc-standby by its arguments (runtime/standby/node-main.ts); keepalived and
 * redis-server come from Debian at first boot, through the nodes' public addresses.
 */
export class StandbyPair extends Construct implements ec2.IConnectable {
  /** The two nodes, the preferred first. */
  public readonly instances: ec2.Instance[];

  /** The address clients use, held by the active node. */
  public readonly elasticIp: ec2.CfnEIP;

  /** Both nodes' security group: the signaling port for clients, the pair link between themselves. */
  public readonly securityGroup: ec2.SecurityGroup;

  /** Both nodes' role. */
  public readonly role: iam.Role;

  /** The REST API secret. */
  public readonly apiSecret: secretsmanager.ISecret;

  /** The session stores' password (requirepass and masterauth on both). */
  public readonly storePassword: secretsmanager.Secret;

  /** The software both nodes run, and its settings parameter (the master's and the agent's). */
  public readonly software: NodeSoftware;

  /** The node image. */
  public readonly image: NodeImage;

  /** The media agents' settings (their own port). */
  public readonly mediaSettings: ssm.StringParameter;

  /** The nodes' journals. */
  public readonly logGroup: logs.LogGroup;

  /** `ws://<Elastic IP>:8080/ws`. */
  public readonly signalingUrl: string;

  /** `http://<Elastic IP>:8080`, the REST API. */
  public readonly restUrl: string;

  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: StandbyPairProps) {
    super(scope, id);
    const subnets = props.vpc.selectSubnets(
      props.vpcSubnets ?? { subnetType: ec2.SubnetType.PUBLIC },
    ).subnets;
    const addresses = props.privateAddresses ?? subnets.slice(0, 2).map(defaultAddress);
    throwIfProblems('StandbyPair props', checkStandbyPairProps(props, subnets, addresses));
    const instanceType = props.instanceType ?? new ec2.InstanceType('t4g.small');
    const stack = Stack.of(this);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
    });
    this.apiSecret =
      props.apiSecret ?? generatedSecret(this, 'ApiSecret', 'rtc-ha pair: the REST API secret');
    this.storePassword = generatedSecret(this, 'StorePassword', "rtc-ha pair: the session stores' password");
    this.elasticIp = new ec2.CfnEIP(this, 'ElasticIp', { domain: 'vpc' });
    const serviceAddress = this.elasticIp.ref; // Ref of an EIP is its public address
    this.signalingUrl = `ws://${serviceAddress}:${PORT}/ws`;
    this.restUrl = `http://${serviceAddress}:${PORT}`;

    this.software = new NodeSoftware(this, 'Software', {
      role: 'master',
      entry: path.join(__dirname, '..', '..', 'runtime', 'standby', 'node-main.ts'),
      port: PORT,
      logGroup: this.logGroup,
      environment: {
        RTC_REDIS_URL: `redis://127.0.0.1:${STANDBY_DEFAULTS.storePort}`,
        RTC_SERVE_LEASE_FILE: `${STATE_DIR}/serve.json`,
        RTC_STANDBY_DIR: STATE_DIR,
        RTC_STANDBY_PAIR_ADDRESSES: addresses.join(','),
        RTC_STANDBY_INTERFACE: INTERFACE,
        RTC_STANDBY_EIP_ALLOCATION_ID: this.elasticIp.attrAllocationId,
        RTC_STANDBY_PEER_SERVICE_URL: `${this.restUrl}/ready`,
        RTC_STANDBY_FAILBACK: props.failback ?? 'automatic',
        RTC_STANDBY_PREEMPT_DELAY_S: String(
          (props.preemptDelay ?? Duration.seconds(STANDBY_DEFAULTS.preemptDelayS)).toSeconds(),
        ),
      },
      secrets: {
        RTC_API_SECRET: this.apiSecret,
        RTC_REDIS_AUTH_TOKEN: this.storePassword,
        RTC_STANDBY_STORE_PASSWORD: this.storePassword,
      },
    });
    this.mediaSettings = new ssm.StringParameter(this, 'MediaSettings', {
      description: "rtc-ha pair: the media agents' non-secret RTC_* variables, read at boot",
      stringValue: [
        `RTC_PORT=${MEDIA_PORT}`,
        `RTC_REDIS_URL=redis://127.0.0.1:${STANDBY_DEFAULTS.storePort}`,
        'RTC_JANUS=off',
      ].join('\n'),
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'rtc-ha pair nodes',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason:
        'SSM Session Manager instead of SSH keys: this AWS-maintained policy is what the agent needs, and ' +
        'its ssmmessages/ec2messages actions have no resource-level scoping.',
    });
    this.software.grantRead(this.role);
    this.mediaSettings.grantRead(this.role);
    this.logGroup.grantWrite(this.role);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'rtc-ha pair nodes: signaling for clients, the pair link between the nodes',
      // The AWS APIs (EC2 for the Elastic IP, SSM, Secrets Manager, CloudWatch Logs) and Debian's mirror.
      allowAllOutbound: true,
    });
    this.connections = this.securityGroup.connections;
    this.securityGroup.addIngressRule(
      props.clients ?? ec2.Peer.anyIpv4(),
      ec2.Port.tcp(PORT),
      'clients: REST and WebSocket',
    );
    const self = this.securityGroup;
    const link: [ec2.Port, string][] = [
      [new ec2.Port({ protocol: ec2.Protocol.VRRP, stringRepresentation: 'VRRP' }), 'pair link: VRRP'],
      [ec2.Port.tcp(STANDBY_DEFAULTS.storePort), 'pair link: store replication'],
      [ec2.Port.tcp(STANDBY_DEFAULTS.statusPort), "pair link: the agents' status"],
    ];
    for (const [port, description] of link) self.addIngressRule(self, port, description);
    if (!props.clients) {
      Validations.of(this.securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: `Clients connect to the signaling port (${PORT}) from anywhere, as to the cluster's load balancer; set clients to narrow it.`,
      });
    }
    Annotations.of(this).addWarningV2(
      'rtc-ha:standbyPairPlainHttp',
      `The pair serves plain HTTP and WebSocket on its Elastic IP, port ${PORT}: no load balancer terminates TLS. ` +
        'Put TLS in front of it, or use it for trials.',
    );

    this.image = new NodeImage(this, 'Image', {
      vpc: props.vpc,
      role: 'master',
      script: this.software.script,
      app: this.software.app,
      architecture: instanceType.architecture,
      vpcSubnets: { subnets: [subnets[0]] },
    });

    this.software.userData.addCommands(...pairNodeCommands(this.mediaSettings));
    this.instances = subnets.slice(0, 2).map(
      (subnet, i) =>
        new ec2.Instance(this, `Node${i + 1}`, {
          vpc: props.vpc,
          vpcSubnets: { subnets: [subnet] },
          instanceType,
          machineImage: this.image.machineImage,
          role: this.role,
          securityGroup: this.securityGroup,
          privateIpAddress: addresses[i],
          associatePublicIpAddress: true,
          userData: this.software.userData,
          requireImdsv2: true,
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
    }

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

/** Every problem of `props` at once, each naming its field. */
function checkStandbyPairProps(
  props: StandbyPairProps,
  subnets: readonly ec2.ISubnet[],
  addresses: readonly (string | undefined)[],
): string[] {
  const problems = new Problems();
  problems.require(
    subnets.length >= 2 && subnets[0].availabilityZone !== subnets[1].availabilityZone,
    'vpcSubnets',
    `must select two subnets in different Availability Zones (got ${subnets.length})`,
  );
  problems.require(
    props.failback === undefined || ['automatic', 'manual'].includes(props.failback),
    'failback',
    `must be automatic or manual (got "${props.failback}")`,
  );
  problems.duration('preemptDelay', props.preemptDelay, 'seconds', 0, 1_000);
  problems.require(
    addresses.length === 2 && addresses.every((a) => a !== undefined),
    'privateAddresses',
    props.privateAddresses
      ? `must name two addresses, the preferred node's first (got ${props.privateAddresses.length})`
      : "required when the subnets' CIDR blocks are not known at synth",
  );
  for (const address of props.privateAddresses ?? []) {
    problems.matches('privateAddresses', address, /^\d{1,3}(\.\d{1,3}){3}$/, 'IPv4 addresses');
  }
  problems.require(
    addresses.length !== 2 || Token.isUnresolved(addresses[0]) || addresses[0] !== addresses[1],
    'privateAddresses',
    'must name two different addresses',
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

/**
 * User data after `rtc-ha-node configure` (which started the master): Debian's keepalived and
 * redis-server, the media agent's and the standby agent's units, then keepalived.conf and the store's
 * redis.conf written by the agent's own program from the pair's settings, and everything started,
 * the agent before keepalived (keepalived's hooks and checks talk to it).
 */
export function pairNodeCommands(mediaSettings: ssm.IStringParameter): string[] {
  const node = `${PREFIX}/node/bin/node --enable-source-maps ${PREFIX}/app/main.js`;
  const unit = (name: string, lines: string[]) => [
    `cat >/etc/systemd/system/${name} <<'UNIT'`,
    ...lines,
    'UNIT',
  ];
  const hardened = ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes'];
  return [
    'set -euo pipefail',
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -qq',
    'apt-get install -y -qq --no-install-recommends keepalived redis-server',
    'systemctl stop keepalived redis-server || true',
    // The media agent reads its own settings (its port), with the master's secrets.
    `sed -e 's|^RTC_BOOT_SETTINGS_PARAMETER=.*|RTC_BOOT_SETTINGS_PARAMETER=${mediaSettings.parameterName}|' /etc/rtc-ha/boot.env >/etc/rtc-ha/media-boot.env`,
    ...unit('rtc-ha-media.service', [
      '[Unit]',
      'Description=rtc-ha pair: media agent',
      'After=network-online.target',
      'Wants=network-online.target',
      '[Service]',
      'User=rtc-ha',
      'EnvironmentFile=/etc/rtc-ha/media-boot.env',
      `ExecStart=${node} media`,
      'Restart=on-failure',
      'RestartSec=2s',
      ...hardened,
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
    ...unit('rtc-ha-standby.service', [
      '[Unit]',
      'Description=rtc-ha pair: standby agent',
      'After=network-online.target redis-server.service',
      'Wants=network-online.target',
      '[Service]',
      'EnvironmentFile=/etc/rtc-ha/boot.env',
      `ExecStart=${node} standby agent`,
      'Restart=always',
      'RestartSec=1s',
      // Kept across restarts: the serve lease (the master reads it) and keepalived's track file.
      'RuntimeDirectory=rtc-ha-standby',
      'RuntimeDirectoryMode=0755',
      'RuntimeDirectoryPreserve=yes',
      '[Install]',
      'WantedBy=multi-user.target',
    ]),
    'mkdir -p /etc/systemd/system/keepalived.service.d',
    "printf '[Unit]\\nAfter=rtc-ha-standby.service\\nWants=rtc-ha-standby.service\\n' >/etc/systemd/system/keepalived.service.d/rtc-ha.conf",
    `install -d -m 0755 ${STATE_DIR}`,
    `(set -a; . /etc/rtc-ha/boot.env; set +a; ${node} standby redis --out /etc/redis/redis.conf && ${node} standby keepalived --out /etc/keepalived/keepalived.conf)`,
    'chown redis:redis /etc/redis/redis.conf',
    'systemctl daemon-reload',
    'systemctl enable --now redis-server rtc-ha-media rtc-ha-standby',
    'systemctl restart redis-server',
    'systemctl enable keepalived',
    'systemctl restart keepalived',
  ];
}
