import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { MasterFleet, MasterFleetProps } from '../../../constructs/master-fleet';
import { Fixture, fixture, fleetDependencies } from '../support/app';

/** What every fleet shares, shown on the masters (the media fleet builds on the same base). */
function build(props: Partial<MasterFleetProps> = {}): Fixture & { fleet: MasterFleet } {
  const f = fixture();
  const fleet = new MasterFleet(f.stack, 'Fleet', { vpc: f.vpc, ...fleetDependencies(f), ...props });
  return { ...f, fleet };
}

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

  it("launches Amazon Linux 2023 for the instance type's architecture, from the public SSM parameter", () => {
    // THEN
    template.hasParameter('*', {
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64',
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 't4g.small' }),
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

  it('gives the nodes Session Manager and read access to their runtime only', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
          ],
        },
      ],
    });
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy'));
    expect(policy.Properties.PolicyDocument.Statement.map((s: { Action: unknown }) => s.Action)).toEqual([
      's3:GetObject',
      expect.arrayContaining(['ssm:GetParameter']),
      expect.arrayContaining(['secretsmanager:GetSecretValue']),
      'cloudformation:SignalResource',
    ]);
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
    const userData = JSON.stringify(
      template.findResources('AWS::EC2::LaunchTemplate')[
        Object.keys(template.findResources('AWS::EC2::LaunchTemplate'))[0]
      ].Properties.LaunchTemplateData.UserData,
    );
    expect(userData).toMatch(
      /function exitTrap.*cfn-signal --stack Test --resource FleetASG[0-9A-F]+.*trap exitTrap EXIT/,
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
      instanceType: new ec2.InstanceType('c7i.large'),
      minCapacity: 3,
      desiredCapacity: 4,
      maxCapacity: 5,
      volumeSizeGiB: 32,
    });
    const template = Template.fromStack(stack);
    template.hasParameter('*', {
      Default: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64',
    });
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
  });

  it.each<[string, Partial<MasterFleetProps>, RegExp]>([
    [
      'a malformed instance type',
      { instanceType: new ec2.InstanceType('large') },
      /instanceType must be an EC2 instance type/,
    ],
    [
      'a size that does not exist',
      { instanceType: new ec2.InstanceType('t4g.huge') },
      /instanceType must be an EC2 instance type/,
    ],
    ['a maximum of 0', { maxCapacity: 0 }, /maxCapacity must be an integer from 1 to 1000/],
    [
      'a fractional desired count',
      { desiredCapacity: 2.5 },
      /desiredCapacity must be an integer from 1 to 1000/,
    ],
    ['a root volume under 8 GiB', { volumeSizeGiB: 4 }, /volumeSizeGiB must be an integer from 8 to 1024/],
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
