import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { MasterFleet, MasterFleetProps } from '../../../constructs/master-fleet';
import { SIGNAL_TIMEOUT } from '../../../constructs/node-fleet';
import { DEFAULT_TIMINGS } from '../../../runtime/contract/timings';
import { Fixture, fixture, fleetDependencies } from '../support/app';

/** What every fleet shares, shown on the masters (the media fleet builds on the same base). */
function build(props: Partial<MasterFleetProps> = {}): Fixture & { fleet: MasterFleet } {
  const f = fixture();
  const fleet = new MasterFleet(f.stack, 'Fleet', { vpc: f.vpc, ...fleetDependencies(f), ...props });
  return { ...f, fleet };
}

test("the watchdog's boot deadline outlasts CloudFormation's wait for a new node's signal (a deployment's silent node is rolled back first)", () => {
  expect(DEFAULT_TIMINGS.bootDeadlineSeconds).toBeGreaterThanOrEqual(2 * SIGNAL_TIMEOUT.toSeconds());
});

describe('NodeFleet (through MasterFleet)', () => {
  let built: Fixture & { fleet: MasterFleet };
  let template: Template;
  beforeAll(() => {
    // GIVEN a fleet with a notification topic  WHEN it is built
    const f = fixture();
    const notificationTopic = new sns.Topic(f.stack, 'Topic');
    built = {
      ...f,
      fleet: new MasterFleet(f.stack, 'Fleet', { vpc: f.vpc, ...fleetDependencies(f), notificationTopic }),
    };
    template = Template.fromStack(built.stack);
  });

  const userData = () => JSON.stringify(template.findResources('AWS::EC2::LaunchTemplate'));

  it("boots its own baked image, built on Debian 12 for the instance type's architecture, by default", () => {
    // THEN
    template.resourceCountIs('AWS::ImageBuilder::Image', 1);
    expect(JSON.stringify(template.findResources('AWS::ImageBuilder::ImageRecipe'))).toMatch(
      /\/aws\/service\/debian\/release\/12\/\d{8}-\d+\/arm64/,
    );
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        ImageId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FleetImage'), 'ImageId'] },
      }),
    });
  });

  it("launches the first of its instance types that has capacity, across the subnets' named AZs", () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MixedInstancesPolicy: {
        InstancesDistribution: {
          OnDemandAllocationStrategy: 'prioritized',
          OnDemandPercentageAboveBaseCapacity: 100,
        },
        LaunchTemplate: {
          LaunchTemplateSpecification: Match.objectLike({
            LaunchTemplateId: { Ref: Match.stringLikeRegexp('^FleetLaunchTemplate') },
          }),
          Overrides: [{ InstanceType: 'c7g.medium' }, { InstanceType: 'm7g.medium' }],
        },
      },
      AvailabilityZones: [
        { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] },
        { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] },
      ],
      LaunchTemplate: Match.absent(),
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: Match.absent() }),
    });
  });

  it('encrypts its log group with the key it is given', () => {
    const f = fixture();
    const logEncryptionKey = new kms.Key(f.stack, 'Key');
    new MasterFleet(f.stack, 'Fleet', { vpc: f.vpc, ...fleetDependencies(f), logEncryptionKey });
    Template.fromStack(f.stack).hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
    });
  });

  it('requires IMDSv2, encrypts a gp3 root volume and turns on detailed monitoring', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 16, DeleteOnTermination: true },
          },
        ],
        Monitoring: { Enabled: true },
        KeyName: Match.absent(),
      }),
    });
  });

  describe('the instance role', () => {
    const policyOf = (id: string) => {
      const policies = template.findResources('AWS::IAM::Policy', {
        Properties: { PolicyName: Match.stringLikeRegexp(id) },
      });
      expect(Object.keys(policies)).toHaveLength(1);
      return Object.values(policies)[0].Properties;
    };

    it('has no managed policy: AmazonSSMManagedInstanceCore would let nodes read every SSM parameter', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
        }),
        ManagedPolicyArns: Match.absent(),
      });
    });

    it('gets exactly what Session Manager needs', () => {
      const policy = policyOf('FleetSessionManagerPolicy');
      expect(policy.Roles).toEqual([{ Ref: expect.stringMatching(/^FleetInstanceRole/) }]);
      expect(policy.PolicyDocument.Statement).toEqual([
        {
          Action: [
            'ec2messages:AcknowledgeMessage',
            'ec2messages:DeleteMessage',
            'ec2messages:FailMessage',
            'ec2messages:GetEndpoint',
            'ec2messages:GetMessages',
            'ec2messages:SendReply',
            'ssm:UpdateInstanceInformation',
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          Effect: 'Allow',
          Resource: '*',
        },
      ]);
    });

    it('reads its own settings parameter and secrets, writes its own log group, signals this stack only', () => {
      const statements = policyOf('FleetInstanceRoleDefaultPolicy').PolicyDocument.Statement;
      expect(statements).toEqual([
        expect.objectContaining({
          Action: expect.arrayContaining(['ssm:GetParameter']),
          Resource: {
            'Fn::Join': [
              '',
              expect.arrayContaining([{ Ref: expect.stringMatching(/^FleetRuntimeSettings/) }]),
            ],
          },
        }),
        {
          Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          Effect: 'Allow',
          Resource: [
            { Ref: expect.stringMatching(/^ApiSecret/) },
            { Ref: expect.stringMatching(/^MediaControlSecret/) },
            { Ref: expect.stringMatching(/^StoreAuthToken/) },
          ],
        },
        {
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^FleetLogs/), 'Arn'] },
        },
        { Action: 'cloudformation:SignalResource', Effect: 'Allow', Resource: { Ref: 'AWS::StackId' } },
      ]);
    });

    it('completes lifecycle actions of its own group only, from a policy that does not hold up booting', () => {
      const policy = policyOf('FleetLifecyclePolicy');
      expect(policy.PolicyDocument.Statement).toEqual([
        {
          Action: 'autoscaling:CompleteLifecycleAction',
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              expect.arrayContaining([
                ':autoScalingGroup:*:autoScalingGroupName/',
                { Ref: expect.stringMatching(/^FleetASG/) },
              ]),
            ],
          },
        },
        // DescribeAutoScalingInstances has no resource-level permissions.
        { Action: 'autoscaling:DescribeAutoScalingInstances', Effect: 'Allow', Resource: '*' },
      ]);
      // What booting needs must not wait for the group, which waits for its booted nodes' signals.
      const bootPolicy = JSON.stringify(policyOf('FleetInstanceRoleDefaultPolicy'));
      expect(bootPolicy).not.toContain('FleetASG');
    });
  });

  it('keeps the journals in a log group for a year by default, and tells the runtime its name', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    expect(userData()).toMatch(/--set 'RTC_BOOT_LOG_GROUP=",\{"Ref":"FleetLogs[0-9A-F]+"\},"'/);
    expect(built.fleet.logGroup).toBeDefined();
  });

  it('holds a terminating node in a hook until it has drained, at most the drain deadline plus the margin', () => {
    template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      AutoScalingGroupName: { Ref: Match.stringLikeRegexp('^FleetASG') },
      LifecycleHookName: 'rtc-ha-drain',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: 60,
      DefaultResult: 'CONTINUE',
      NotificationTargetARN: Match.absent(),
      RoleARN: Match.absent(),
    });
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Value: {
        'Fn::Join': [
          '',
          Match.arrayWith([Match.stringLikeRegexp('\nRTC_LIFECYCLE_HOOK_NAME=rtc-ha-drain$')]),
        ],
      },
    });
    expect(userData()).toContain('--stop-timeout 60');
    expect(built.stack.resolve(built.fleet.drainHook.lifecycleHookName)).toEqual({
      Ref: expect.stringMatching(/^FleetLifecycleHookDrain/),
    });
  });

  it('follows the drain deadline with the hook timeout and the stop timeout', () => {
    const { stack } = build({ runtime: { drainDeadlineMs: 120_000 } });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::AutoScaling::LifecycleHook', { HeartbeatTimeout: 150 });
    expect(JSON.stringify(t.findResources('AWS::EC2::LaunchTemplate'))).toContain('--stop-timeout 150');
  });

  it('uses EC2 health checks with a 120 s grace period, never ELB ones', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      HealthCheckType: 'EC2',
      HealthCheckGracePeriod: 120,
      Cooldown: '120',
      MetricsCollection: [{ Granularity: '1Minute' }],
    });
  });

  it('rolls a new version through one node at a time, waiting for /ready, never below the minimum', () => {
    template.hasResource('AWS::AutoScaling::AutoScalingGroup', {
      CreationPolicy: { ResourceSignal: { Count: 3, Timeout: 'PT15M' } },
      UpdatePolicy: Match.objectLike({
        AutoScalingRollingUpdate: Match.objectLike({
          MaxBatchSize: 1,
          MinInstancesInService: 3,
          WaitOnResourceSignals: true,
        }),
      }),
    });
    // The runtime itself signals once ready, its instance id as unique id.
    expect(userData()).toMatch(
      /--set 'RTC_BOOT_SIGNAL_STACK=Test' --set 'RTC_BOOT_SIGNAL_RESOURCE=FleetASG[0-9A-F]+'/,
    );
  });

  it('notifies the topic of every launch and termination, and their errors', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      NotificationConfigurations: [
        {
          TopicARN: { Ref: Match.stringLikeRegexp('Topic') },
          NotificationTypes: [
            'autoscaling:EC2_INSTANCE_LAUNCH',
            'autoscaling:EC2_INSTANCE_LAUNCH_ERROR',
            'autoscaling:EC2_INSTANCE_TERMINATE',
            'autoscaling:EC2_INSTANCE_TERMINATE_ERROR',
          ],
        },
      ],
    });
  });

  it('is let in to the session store on its port', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 6380,
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('StoreSecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('FleetSecurityGroup'), 'GroupId'] },
    });
  });

  it('exposes in-service and CPU metrics of the group', () => {
    const { fleet, stack } = built;
    const inService = fleet.metricInServiceInstances();
    expect(inService).toMatchObject({
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupInServiceInstances',
      statistic: 'Minimum',
    });
    expect(stack.resolve(inService.dimensions)).toEqual({
      AutoScalingGroupName: { Ref: expect.stringMatching(/^FleetASG/) },
    });
    expect(fleet.metricCpuUtilization()).toMatchObject({
      namespace: 'AWS/EC2',
      metricName: 'CPUUtilization',
      statistic: 'Average',
    });
    expect(fleet.minCapacity).toBe(3);
    expect(fleet.port).toBe(8080);
    expect(fleet.grantPrincipal).toBe(fleet.instanceRole);
  });

  it('lets a watchdog mark its instances unhealthy', () => {
    // GIVEN a fleet and a watchdog role  WHEN the watchdog is granted SetInstanceHealth
    const { stack, fleet } = build();
    const watchdog = new iam.Role(stack, 'Watchdog', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    fleet.grantSetInstanceHealth(watchdog);
    // THEN
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Watchdog') }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'autoscaling:SetInstanceHealth',
            Resource: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
          }),
        ],
      },
    });
  });

  it('launches x86_64 images for an x86_64 instance type, with the size and capacity asked for', () => {
    const { stack } = build({
      instanceTypes: [new ec2.InstanceType('c7i.large'), new ec2.InstanceType('m7i.large')],
      minCapacity: 3,
      desiredCapacity: 4,
      maxCapacity: 5,
      volumeSizeGiB: 32,
      logRetentionDays: 731,
    });
    const template = Template.fromStack(stack);
    expect(JSON.stringify(template.findResources('AWS::ImageBuilder::ImageRecipe'))).toMatch(
      /\/aws\/service\/debian\/release\/12\/\d{8}-\d+\/amd64/,
    );
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '3',
      DesiredCapacity: '4',
      MaxSize: '5',
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ VolumeSize: 32 }) })],
      }),
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 731 });
  });

  it('boots the machine image it is given instead, and then bakes none', () => {
    const { stack } = build({
      machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-0123456789abcdef0' }),
    });
    const template = Template.fromStack(stack);
    expect(template.findParameters('*', { Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>' })).toEqual(
      {},
    );
    expect(JSON.stringify(template.toJSON())).toContain('ami-0123456789abcdef0');
    template.resourceCountIs('AWS::ImageBuilder::Image', 0);
  });

  it.each<[string, Partial<MasterFleetProps>, RegExp]>([
    [
      'a malformed instance type',
      { instanceTypes: [new ec2.InstanceType('large'), new ec2.InstanceType('c7g.large')] },
      /instanceTypes must be EC2 instance types like c7g.medium \(got "large"\)/,
    ],
    [
      'a size that does not exist',
      { instanceTypes: [new ec2.InstanceType('c7g.huge'), new ec2.InstanceType('c7g.large')] },
      /instanceTypes must be EC2 instance types like c7g.medium \(got "c7g.huge"\)/,
    ],
    [
      'a single instance type',
      { instanceTypes: [new ec2.InstanceType('c7g.large')] },
      /instanceTypes must list 2 to 20 instance types, so that a shortage of one does not block a replacement \(got 1\)/,
    ],
    [
      'a repeated instance type',
      { instanceTypes: [new ec2.InstanceType('c7g.large'), new ec2.InstanceType('c7g.large')] },
      /instanceTypes must not repeat a type/,
    ],
    [
      'instance types of two architectures',
      { instanceTypes: [new ec2.InstanceType('c7g.large'), new ec2.InstanceType('c7i.large')] },
      /instanceTypes must share one architecture, the node image's \(got arm64 and x86_64\)/,
    ],
    ['a maximum of 0', { maxCapacity: 0 }, /maxCapacity must be an integer from 1 to 1000/],
    [
      'a fractional desired count',
      { desiredCapacity: 2.5 },
      /desiredCapacity must be an integer from 1 to 1000/,
    ],
    ['a root volume under 8 GiB', { volumeSizeGiB: 4 }, /volumeSizeGiB must be an integer from 8 to 1024/],
    [
      'a log retention CloudWatch Logs does not offer',
      { logRetentionDays: 31 },
      /logRetentionDays must be one of CloudWatch Logs' retention periods \(1, 3, 5, .*, 3653 days; got 31\)/,
    ],
    [
      'a maximum equal to the minimum',
      { minCapacity: 3, maxCapacity: 3 },
      /maxCapacity must be greater than minCapacity \(3 <= 3\)/,
    ],
    [
      'a desired count below the minimum',
      { minCapacity: 3, desiredCapacity: 2 },
      /desiredCapacity must be from minCapacity \(3\) to maxCapacity/,
    ],
    [
      'a desired count above the maximum',
      { desiredCapacity: 9, maxCapacity: 4 },
      /desiredCapacity must be from minCapacity \(3\) to maxCapacity \(4\); got 9/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
