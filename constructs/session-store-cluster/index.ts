import { Annotations, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { Problems, throwIfProblems } from '../shared/problems';

/** The engine of the session store. */
export type SessionStoreEngine = 'valkey' | 'redis';

/** The part of {@link SessionStoreClusterProps} that deployment config sets. */
export interface SessionStoreClusterOptions {
  /**
   * Cache engine: Valkey, or Redis OSS.
   *
   * @default 'valkey'
   */
  readonly engine?: SessionStoreEngine;

  /**
   * Engine version (major.minor).
   *
   * @default - '8.0' for Valkey, '7.1' for Redis OSS
   */
  readonly engineVersion?: string;

  /**
   * Cache node type.
   *
   * @default 'cache.t4g.small'
   */
  readonly nodeType?: string;

  /**
   * Read replicas of the primary, each in another AZ where possible (1 to 5). At least one, for
   * Multi-AZ automatic failover.
   *
   * @default 1
   */
  readonly replicas?: number;

  /**
   * TCP port of the store. Not 6379: a non-default port turns away untargeted scans.
   *
   * @default 6380
   */
  readonly port?: number;

  /**
   * Days automatic snapshots are kept (0 to 35; 0 turns snapshots off, with a synth warning).
   *
   * @default 7
   */
  readonly snapshotRetentionDays?: number;

  /**
   * Daily UTC window for automatic snapshots, `hh:mm-hh:mm`.
   *
   * @default '03:00-04:00'
   */
  readonly snapshotWindow?: string;

  /**
   * Weekly UTC maintenance window, `ddd:hh:mm-ddd:hh:mm`.
   *
   * @default 'sun:05:00-sun:06:00'
   */
  readonly maintenanceWindow?: string;
}

/** {@link SessionStoreClusterOptions} with every default filled in. */
export type ResolvedSessionStoreClusterOptions = Required<SessionStoreClusterOptions>;

/** Props of {@link SessionStoreCluster}. */
export interface SessionStoreClusterProps extends SessionStoreClusterOptions {
  /** The VPC to place the store in. */
  readonly vpc: ec2.IVpc;

  /**
   * Subnets of the store's subnet group.
   *
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * The customer managed key the AUTH token's secret is encrypted with.
   *
   * @default - the account's AWS managed key for Secrets Manager (`aws/secretsmanager`)
   */
  readonly authTokenEncryptionKey?: kms.IKey;

  /**
   * Replication group id: lowercase letters, digits and single hyphens, at most 40 characters.
   * CloudWatch names the member clusters after it, so the alarms need it at synth.
   *
   * @default - derived from the stack name, e.g. `rtcha-sessions`
   */
  readonly replicationGroupId?: string;
}

const DEFAULT_ENGINE_VERSIONS: Record<SessionStoreEngine, string> = { valkey: '8.0', redis: '7.1' };
const REPLICATION_GROUP_ID = /^[a-z]([a-z0-9]|-(?!-)){0,38}[a-z0-9]$/;

/** `options` with every default filled in. */
export function resolveSessionStoreClusterOptions(
  options: SessionStoreClusterOptions = {},
): ResolvedSessionStoreClusterOptions {
  const engine = options.engine ?? 'valkey';
  return {
    engine,
    engineVersion: options.engineVersion ?? DEFAULT_ENGINE_VERSIONS[engine],
    nodeType: options.nodeType ?? 'cache.t4g.small',
    replicas: options.replicas ?? 1,
    port: options.port ?? 6380,
    snapshotRetentionDays: options.snapshotRetentionDays ?? 7,
    snapshotWindow: options.snapshotWindow ?? '03:00-04:00',
    maintenanceWindow: options.maintenanceWindow ?? 'sun:05:00-sun:06:00',
  };
}

/** Lists every problem of `options`, field names prefixed with `prefix`. */
export function checkSessionStoreClusterOptions(options: SessionStoreClusterOptions, prefix = ''): string[] {
  const problems = new Problems(prefix);
  problems.require(
    options.engine === undefined || options.engine in DEFAULT_ENGINE_VERSIONS,
    'engine',
    `must be "valkey" or "redis" (got "${options.engine}")`,
  );
  const resolved = resolveSessionStoreClusterOptions(options);
  problems.matches('engineVersion', resolved.engineVersion, /^\d+\.\d+$/, 'a major.minor version like 8.0');
  problems.matches(
    'nodeType',
    resolved.nodeType,
    /^cache\.[a-z0-9]+\.[a-z0-9]+$/,
    'a cache node type like cache.t4g.small',
  );
  problems.integers(resolved, { replicas: [1, 5], port: [1024, 65535], snapshotRetentionDays: [0, 35] });
  problems.require(resolved.port !== 6379, 'port', 'must not be the default port 6379');
  problems.matches(
    'snapshotWindow',
    resolved.snapshotWindow,
    /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/,
    'a UTC window like 03:00-04:00',
  );
  problems.matches(
    'maintenanceWindow',
    resolved.maintenanceWindow,
    /^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$/,
    'a UTC window like sun:05:00-sun:06:00',
  );
  return problems.messages;
}

/**
 * The session registry: an ElastiCache replication group (Valkey by default) with a replica in another
 * AZ, Multi-AZ automatic failover, TLS in transit, encryption at rest and an AUTH token generated in
 * Secrets Manager. Its security group admits nobody until {@link allowConnectionsFrom} is called.
 */
export class SessionStoreCluster extends Construct implements ec2.IConnectable {
  /** The replication group. */
  public readonly replicationGroup: elasticache.CfnReplicationGroup;

  /** The engine parameters: `maxmemory-policy noeviction`. */
  public readonly parameterGroup: elasticache.CfnParameterGroup;

  /** The store's own security group. */
  public readonly securityGroup: ec2.SecurityGroup;

  /** Network access to the store; the default port is the store's port. */
  public readonly connections: ec2.Connections;

  /** The AUTH token clients must present. */
  public readonly authToken: secretsmanager.ISecret;

  /** TCP port of the store. */
  public readonly port: number;

  /** Replication group id. */
  public readonly replicationGroupId: string;

  /** Address of the primary endpoint, which follows failovers. */
  public readonly endpointAddress: string;

  /** `rediss://` URL of the primary endpoint (TLS), without credentials. */
  public readonly url: string;

  /** Ids of the member cache clusters (`<id>-001`, `<id>-002`, ...), the CloudWatch dimension values. */
  public readonly memberClusterIds: string[];

  constructor(scope: Construct, id: string, props: SessionStoreClusterProps) {
    super(scope, id);
    this.replicationGroupId = props.replicationGroupId ?? replicationGroupIdFor(Stack.of(this).stackName);
    const idProblems = new Problems();
    idProblems.matches(
      'replicationGroupId',
      this.replicationGroupId,
      REPLICATION_GROUP_ID,
      'at most 40 lowercase letters, digits and single hyphens, starting with a letter',
    );
    throwIfProblems('SessionStoreCluster props', [
      ...checkSessionStoreClusterOptions(props),
      ...idProblems.messages,
    ]);
    const resolved = resolveSessionStoreClusterOptions(props);
    const { replicas, snapshotRetentionDays } = resolved;
    this.port = resolved.port;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'rtc-ha session store: admits only the rtc-ha fleets and the watchdog',
      allowAllOutbound: false,
    });
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: ec2.Port.tcp(this.port),
    });

    const authToken = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'rtc-ha session store AUTH token',
      encryptionKey: props.authTokenEncryptionKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(authToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating an ElastiCache AUTH token takes a ROTATE/SET modification of the replication group and a ' +
        'rolling restart of both fleets; it is an operator runbook step (docs/deploying.md), not a scheduled Lambda.',
    });
    this.authToken = authToken;

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'rtc-ha session store subnets',
      subnetIds: props.vpc.selectSubnets(
        props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      ).subnetIds,
    });

    // ElastiCache's default policy evicts keys when memory runs out; heartbeats and sessions must never
    // silently disappear, so a full store refuses writes instead (the runtime answers 503) and the memory
    // alarm pages first.
    this.parameterGroup = new elasticache.CfnParameterGroup(this, 'Parameters', {
      description: 'rtc-ha session store: never evict (maxmemory-policy noeviction)',
      cacheParameterGroupFamily: `${resolved.engine}${resolved.engineVersion.split('.')[0]}`,
      properties: { 'maxmemory-policy': 'noeviction' },
    });

    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: this.replicationGroupId,
      replicationGroupDescription: 'rtc-ha session registry',
      engine: resolved.engine,
      engineVersion: resolved.engineVersion,
      cacheNodeType: resolved.nodeType,
      numCacheClusters: 1 + replicas,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: authToken.secretValue.unsafeUnwrap(),
      port: this.port,
      cacheSubnetGroupName: subnetGroup.ref,
      cacheParameterGroupName: this.parameterGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      autoMinorVersionUpgrade: true,
      snapshotRetentionLimit: snapshotRetentionDays,
      snapshotWindow: resolved.snapshotWindow,
      preferredMaintenanceWindow: resolved.maintenanceWindow,
    });
    if (snapshotRetentionDays === 0) {
      Annotations.of(this).addWarningV2(
        'rtc-ha:noSessionSnapshots',
        'snapshotRetentionDays is 0: the session store keeps no snapshots, so losing every node loses every session.',
      );
    }

    this.endpointAddress = this.replicationGroup.attrPrimaryEndPointAddress;
    this.url = `rediss://${this.endpointAddress}:${this.port}`;
    this.memberClusterIds = Array.from(
      { length: 1 + replicas },
      (_, i) => `${this.replicationGroupId}-${String(i + 1).padStart(3, '0')}`,
    );
  }

  /** Lets `peer` connect to the store's port. */
  public allowConnectionsFrom(peer: ec2.IConnectable, description = 'rtc-ha session store clients'): void {
    this.connections.allowDefaultPortFrom(peer, description);
  }

  /** Grants `grantee` read access to the AUTH token. */
  public grantReadAuthToken(grantee: iam.IGrantable): iam.Grant {
    return this.authToken.grantRead(grantee);
  }

  /** Highest engine CPU utilization (%) over the member nodes. */
  public metricEngineCpuUtilization(options?: cloudwatch.MathExpressionOptions): cloudwatch.IMetric {
    return this.maxOverMembers('EngineCPUUtilization', 'Engine CPU (%), busiest node', options);
  }

  /** Highest share of `maxmemory` in use (%) over the member nodes. */
  public metricMemoryUsage(options?: cloudwatch.MathExpressionOptions): cloudwatch.IMetric {
    return this.maxOverMembers('DatabaseMemoryUsagePercentage', 'Memory used (%), fullest node', options);
  }

  /** Highest replication lag (seconds) over the replicas; the primary reports none. */
  public metricReplicationLag(options?: cloudwatch.MathExpressionOptions): cloudwatch.IMetric {
    return this.maxOverMembers('ReplicationLag', 'Replication lag (s), worst replica', options);
  }

  /** The maximum of one per-node metric over every member; roles move between members on failover. */
  private maxOverMembers(
    metricName: string,
    label: string,
    options?: cloudwatch.MathExpressionOptions,
  ): cloudwatch.IMetric {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    this.memberClusterIds.forEach((clusterId, i) => {
      usingMetrics[`m${i + 1}`] = new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName,
        dimensionsMap: { CacheClusterId: clusterId },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      });
    });
    return new cloudwatch.MathExpression({
      expression: `MAX([${Object.keys(usingMetrics).join(', ')}])`,
      usingMetrics,
      label,
      period: Duration.minutes(1),
      ...options,
    });
  }
}

/** A valid replication group id derived from a stack name: `RtcHa` becomes `rtcha-sessions`. */
export function replicationGroupIdFor(stackName: string): string {
  const base = stackName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 31)
    .replace(/-+$/, '');
  return `${base || 'rtc-ha'}-sessions`;
}
