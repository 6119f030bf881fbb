import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import {
  replicationGroupIdFor,
  SessionStoreCluster,
  SessionStoreClusterProps,
} from '../../../constructs/session-store-cluster';
import { Fixture, fixture } from '../support/app';

function build(props: Partial<SessionStoreClusterProps> = {}): Fixture & { store: SessionStoreCluster } {
  const f = fixture();
  return { ...f, store: new SessionStoreCluster(f.stack, 'Store', { vpc: f.vpc, ...props }) };
}

describe('SessionStoreCluster', () => {
  describe('with the defaults', () => {
    let f: Fixture & { store: SessionStoreCluster };
    let template: Template;
    beforeAll(() => {
      // GIVEN a VPC  WHEN the store is built with the defaults
      f = build();
      // AND a client is let in
      f.store.allowConnectionsFrom(new ec2.SecurityGroup(f.stack, 'Client', { vpc: f.vpc }));
      template = Template.fromStack(f.stack);
    });

    it('is a Valkey replication group with a replica, Multi-AZ and automatic failover', () => {
      // THEN
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        ReplicationGroupId: 'test-sessions',
        Engine: 'valkey',
        EngineVersion: '8.0',
        CacheNodeType: 'cache.t4g.small',
        NumCacheClusters: 2,
        MultiAZEnabled: true,
        AutomaticFailoverEnabled: true,
      });
    });

    it('never evicts: a full store refuses writes rather than dropping heartbeats or sessions', () => {
      template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
        CacheParameterGroupFamily: 'valkey8',
        Properties: { 'maxmemory-policy': 'noeviction' },
      });
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        CacheParameterGroupName: { Ref: Match.stringLikeRegexp('StoreParameters') },
      });
    });

    it('encrypts in transit and at rest, and requires the AUTH token from Secrets Manager', () => {
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        TransitEncryptionEnabled: true,
        AtRestEncryptionEnabled: true,
        AuthToken: {
          'Fn::Join': [
            '',
            [
              '{{resolve:secretsmanager:',
              { Ref: Match.stringLikeRegexp('StoreAuthToken') },
              ':SecretString:::}}',
            ],
          ],
        },
      });
      template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
      });
    });

    it('listens on a non-default port, with snapshot and maintenance windows', () => {
      template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
        Port: 6380,
        SnapshotRetentionLimit: 7,
        SnapshotWindow: '03:00-04:00',
        PreferredMaintenanceWindow: 'sun:05:00-sun:06:00',
        AutoMinorVersionUpgrade: true,
      });
    });

    it('has its own subnet group in the private subnets', () => {
      template.hasResourceProperties('AWS::ElastiCache::SubnetGroup', {
        SubnetIds: [
          { Ref: Match.stringLikeRegexp('VpcPrivateSubnet1') },
          { Ref: Match.stringLikeRegexp('VpcPrivateSubnet2') },
        ],
      });
    });

    it('has its own security group that admits only the clients it is told about, on its port', () => {
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('session store'),
        SecurityGroupIngress: Match.absent(),
      });
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 1);
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        FromPort: 6380,
        ToPort: 6380,
        SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('Client'), 'GroupId'] },
      });
    });

    it('exposes a TLS URL, the member cluster ids and per-node metrics over every member', () => {
      expect(f.stack.resolve(f.store.url)).toEqual({
        'Fn::Join': [
          '',
          [
            'rediss://',
            { 'Fn::GetAtt': [expect.stringMatching(/^Store/), 'PrimaryEndPoint.Address'] },
            ':6380',
          ],
        ],
      });
      expect(f.store.memberClusterIds).toEqual(['test-sessions-001', 'test-sessions-002']);
      const cpu = f.store.metricEngineCpuUtilization() as cloudwatch.MathExpression;
      expect(cpu.expression).toBe('MAX([m1, m2])');
      expect(Object.values(cpu.usingMetrics).map((m) => (m as cloudwatch.Metric).dimensions)).toEqual([
        { CacheClusterId: 'test-sessions-001' },
        { CacheClusterId: 'test-sessions-002' },
      ]);
      expect((f.store.metricMemoryUsage() as cloudwatch.MathExpression).usingMetrics.m1).toMatchObject({
        metricName: 'DatabaseMemoryUsagePercentage',
      });
      expect((f.store.metricReplicationLag() as cloudwatch.MathExpression).usingMetrics.m2).toMatchObject({
        metricName: 'ReplicationLag',
      });
    });

    it('does not warn', () => {
      Annotations.fromStack(f.stack).hasNoWarning('*', Match.anyValue());
    });
  });

  it('grants read access to the AUTH token', () => {
    // GIVEN a store and a role
    const f = build();
    const role = new iam.Role(f.stack, 'Reader', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
    });
    // WHEN
    f.store.grantReadAuthToken(role);
    // THEN
    Template.fromStack(f.stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
            Resource: { Ref: Match.stringLikeRegexp('StoreAuthToken') },
          }),
        ],
      },
    });
  });

  it('runs Redis OSS with its default version, more replicas and a given id', () => {
    const f = build({ engine: 'redis', replicas: 2, replicationGroupId: 'my-sessions' });
    Template.fromStack(f.stack).hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'redis',
      EngineVersion: '7.1',
      NumCacheClusters: 3,
      ReplicationGroupId: 'my-sessions',
    });
    Template.fromStack(f.stack).hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
      CacheParameterGroupFamily: 'redis7',
    });
    expect(f.store.memberClusterIds).toHaveLength(3);
  });

  it('warns when snapshots are off', () => {
    const f = build({ snapshotRetentionDays: 0 });
    Annotations.fromStack(f.stack).hasWarning('/Test/Store', Match.stringLikeRegexp('keeps no snapshots'));
  });

  it.each([
    ['RtcHa', 'rtcha-sessions'],
    ['My_Stack--Prod', 'my-stack-prod-sessions'],
    ['9lives', 'lives-sessions'],
    ['---', 'rtc-ha-sessions'],
    ['A'.repeat(60), `${'a'.repeat(31)}-sessions`],
  ])('derives a valid replication group id from the stack name %s', (stackName, id) => {
    expect(replicationGroupIdFor(stackName)).toBe(id);
  });

  it.each<[string, Partial<SessionStoreClusterProps>, RegExp]>([
    [
      'an unknown engine',
      { engine: 'memcached' as 'redis' },
      /engine must be "valkey" or "redis" \(got "memcached"\)/,
    ],
    ['a malformed engine version', { engineVersion: '8' }, /engineVersion must be a major.minor version/],
    ['a malformed node type', { nodeType: 'm7g.large' }, /nodeType must be a cache node type/],
    ['no replica', { replicas: 0 }, /replicas must be an integer from 1 to 5 \(got 0\)/],
    ['a privileged port', { port: 80 }, /port must be an integer from 1024 to 65535/],
    ['the default port', { port: 6379 }, /port must not be the default port 6379/],
    [
      'too long a snapshot retention',
      { snapshotRetentionDays: 36 },
      /snapshotRetentionDays must be an integer from 0 to 35/,
    ],
    [
      'a malformed snapshot window',
      { snapshotWindow: '3-4' },
      /snapshotWindow must be a UTC window like 03:00-04:00/,
    ],
    [
      'a malformed maintenance window',
      { maintenanceWindow: 'sunday' },
      /maintenanceWindow must be a UTC window like sun:05:00/,
    ],
    [
      'an invalid replication group id',
      { replicationGroupId: 'Sessions--1' },
      /replicationGroupId must be at most 40 lowercase/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
