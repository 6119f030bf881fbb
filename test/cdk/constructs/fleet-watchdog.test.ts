import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ClusterAlarms } from '../../../constructs/alarms';
import {
  FleetWatchdog,
  type FleetWatchdogProps,
  type IWatchedFleet,
} from '../../../constructs/fleet-watchdog';
import { readSettings } from '../../../runtime/watchdog/settings';
import { cloudFormationFindings, testApp, watchedFleet } from '../support/app';

interface Fixture {
  readonly app: App;
  readonly stack: Stack;
  readonly watchdog: FleetWatchdog;
  readonly masterSg: ec2.SecurityGroup;
  readonly storeSg: ec2.SecurityGroup;
}

/** A small cluster stack: VPC, the masters' group (L2), the media group (imported), a store and the alarms. */
function build(overrides: Partial<FleetWatchdogProps> = {}, options: { bundle?: boolean } = {}): Fixture {
  const app = testApp(options.bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Cluster');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { All: {} } });
  const masterSg = new ec2.SecurityGroup(stack, 'MasterSg', { vpc, description: 'masters' });
  const mediaSg = new ec2.SecurityGroup(stack, 'MediaSg', { vpc, description: 'media' });
  const storeSg = new ec2.SecurityGroup(stack, 'StoreSg', { vpc, description: 'session store' });
  const masters = new autoscaling.AutoScalingGroup(stack, 'Masters', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroup: masterSg,
    instanceType: new ec2.InstanceType('t4g.small'),
    machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
    requireImdsv2: true,
    blockDevices: [
      { deviceName: '/dev/xvda', volume: autoscaling.BlockDeviceVolume.ebs(8, { encrypted: true }) },
    ],
    notifications: [
      {
        topic: sns.Topic.fromTopicArn(
          stack,
          'AsgEvents',
          stack.formatArn({ service: 'sns', resource: 'asg-events' }),
        ),
      },
    ],
  });
  for (const id of ['AwsSolutions-EC26', 'AwsSolutions-EC28', 'AwsSolutions-EC29', 'AwsSolutions-AS1']) {
    Validations.of(masters).acknowledge({ id, reason: 'test fixture: the cluster stack owns the fleet' });
  }
  const authToken = new secretsmanager.Secret(stack, 'AuthToken', {
    generateSecretString: { excludePunctuation: true, passwordLength: 64 },
  });
  Validations.of(authToken).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason: 'test fixture: the cluster stack owns the token and its rotation',
  });
  const watchdog = new FleetWatchdog(stack, 'Watchdog', {
    vpc,
    sessionStore: {
      replicationGroupId: 'rtc-store',
      endpointAddress: 'master.rtc-store.abc123.use1.cache.amazonaws.com',
      port: 6379,
      connections: storeSg,
      authToken,
    },
    masters: {
      fleet: watchedFleet(masters, {
        connections: masters.connections,
        targetGroup: elbv2.ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'MasterTargets', {
          targetGroupArn: stack.formatArn({
            service: 'elasticloadbalancing',
            resource: 'targetgroup/masters/0123456789abcdef',
          }),
        }),
      }),
    },
    media: {
      fleet: watchedFleet(
        autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Media', 'cluster-media'),
        { connections: mediaSg.connections, port: 9090, minCapacity: 4 },
      ),
      maxFlagsPerCycle: 2,
      gracePeriod: Duration.minutes(5),
      minHealthyShare: 0.3,
    },
    alarms: new ClusterAlarms(stack, 'Alarms'),
    ...overrides,
  });
  return { app, stack, watchdog, masterSg, storeSg };
}

describe('FleetWatchdog', () => {
  // One real bundle (esbuild, local): the handler entry must build.
  let fixture: Fixture;
  let template: Template;
  beforeAll(() => {
    fixture = build({}, { bundle: true });
    template = Template.fromStack(fixture.stack);
  });

  test('GIVEN the cluster WHEN synthesized THEN a NodejsFunction on arm64, Node.js 24, no reserved concurrency, 1-minute timeout', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 60,
      // A new account's concurrency quota may leave nothing to reserve: the run lock in Redis serializes runs.
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.objectLike({
          NODE_OPTIONS: '--enable-source-maps',
          RTC_REDIS_URL: 'rediss://master.rtc-store.abc123.use1.cache.amazonaws.com:6379',
          RTC_REPLICATION_GROUP_ID: 'rtc-store',
          RTC_WATCHDOG_CYCLE_MS: '5000',
          RTC_KEY_PREFIX: 'rtc',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  test('GIVEN the cluster WHEN synthesized THEN the bundle has a source map and leaves the AWS SDK to the runtime', () => {
    const outdir = fixture.app.synth().directory;
    const [asset] = readdirSync(outdir).filter((d) => existsSync(path.join(outdir, d, 'index.js.map')));
    const bundle = readFileSync(path.join(outdir, asset, 'index.js'), 'utf8');
    expect(bundle).toContain('require("@aws-sdk/client-auto-scaling")');
    expect(bundle).not.toContain('class AutoScalingClient');
    expect(bundle).toContain('SetInstanceHealthCommand');
  });

  test('GIVEN the cluster WHEN synthesized THEN the function runs in the private subnets with its own security group', () => {
    expect(watchdogFunction(template).VpcConfig).toEqual({
      SubnetIds: [
        { Ref: expect.stringMatching(/^VpcPrivateSubnet1Subnet/) },
        { Ref: expect.stringMatching(/^VpcPrivateSubnet2Subnet/) },
      ],
      SecurityGroupIds: [{ 'Fn::GetAtt': [expect.stringMatching(/^WatchdogSecurityGroup/), 'GroupId'] }],
    });
  });

  test('GIVEN the cluster WHEN synthesized THEN nothing may reach the watchdog, and it reaches only Redis, /live and HTTPS', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('rtc-ha watchdog'),
      SecurityGroupEgress: [
        {
          CidrIp: '0.0.0.0/0',
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          Description: 'AWS APIs (HTTPS)',
        },
      ],
    });
    const watchdogSg = { 'Fn::GetAtt': [Match.stringLikeRegexp('^WatchdogSecurityGroup'), 'GroupId'] };
    const ingress = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { SourceSecurityGroupId: watchdogSg },
    });
    const ports = Object.values(ingress).map((r) => [
      r.Properties.FromPort,
      r.Properties.GroupId['Fn::GetAtt'][0],
    ]);
    expect(ports.sort()).toEqual(
      [
        [6379, expect.stringMatching(/^StoreSg/)],
        [8080, expect.stringMatching(/^MasterSg/)],
        [9090, expect.stringMatching(/^MediaSg/)],
      ].sort(),
    );
    const toWatchdog = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { GroupId: watchdogSg },
    });
    expect(Object.keys(toWatchdog)).toHaveLength(0);
  });

  test('GIVEN the cluster WHEN synthesized THEN an EventBridge rule starts the function every minute', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Watchdog'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
  });

  test("GIVEN the cluster WHEN synthesized THEN SetInstanceHealth comes from the fleets' grants, scoped to the two groups, and nothing is autoscaling:*", () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^WatchdogRole') }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    ) as Array<{
      Sid?: string;
      Action: string | string[];
      Resource: unknown;
    }>;
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).not.toContain('autoscaling:*');
    expect(actions.filter((a) => a.startsWith('autoscaling:'))).toEqual([
      'autoscaling:SetInstanceHealth',
      'autoscaling:DescribeAutoScalingGroups',
    ]);
    const flag = statements.find((s) => s.Action === 'autoscaling:SetInstanceHealth');
    expect(flag).toEqual({
      Effect: 'Allow',
      Action: 'autoscaling:SetInstanceHealth',
      Resource: [
        groupArn(':autoScalingGroup:*:autoScalingGroupName/', { Ref: expect.stringMatching(/^MastersASG/) }),
        groupArn(':autoScalingGroup:*:autoScalingGroupName/cluster-media'),
      ],
    });
    const wildcard = statements.filter((s) => s.Resource === '*');
    expect(wildcard.map((s) => s.Sid)).toEqual(['ReadFleetState', 'LambdaVpcNetworkInterfaces']);
    expect(
      wildcard
        .flatMap((s) => [s.Action].flat())
        .every((a) => /:(Describe|Create|Delete|Assign|Unassign)/.test(a)),
    ).toBe(true);
    const store = statements.find((s) => s.Sid === 'ReplicationGroupStatus');
    expect(JSON.stringify(store?.Resource)).toContain(':replicationgroup:rtc-store');
    const secret = statements.find((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(secret?.Resource).toEqual({ Ref: expect.stringMatching(/^AuthToken/) });
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  test("GIVEN the cluster WHEN synthesized THEN each group names its fleet's port (a boot that never registered is probed there)", () => {
    const groups = JSON.stringify(watchdogFunction(template).Environment.Variables.RTC_WATCHDOG_GROUPS);
    expect(groups).toMatch(/\\"role\\":\\"master\\".*\\"port\\":8080/);
    expect(groups).toMatch(/\\"role\\":\\"media\\".*\\"port\\":9090/);
  });

  test('GIVEN the cluster WHEN synthesized THEN the settings reach the handler and parse', () => {
    const env = watchdogFunction(template).Environment.Variables;
    const resolved = { ...env, RTC_REDIS_AUTH_SECRET_ARN: 'arn:secret', RTC_WATCHDOG_GROUPS: 'x' };
    expect(() => readSettings(resolved)).toThrow(/RTC_WATCHDOG_GROUPS: must be JSON/);
    const policy = readSettings({
      ...resolved,
      RTC_WATCHDOG_GROUPS: JSON.stringify([{ role: 'media', groupName: 'g' }]),
    }).policy;
    expect(policy).toEqual({
      master: { maxFlagsPerCycle: 1, graceMs: 120_000, minHealthyShare: 0.5 },
      media: { maxFlagsPerCycle: 2, graceMs: 300_000, minHealthyShare: 0.3 },
    });
  });

  test('GIVEN the cluster WHEN synthesized THEN alarms on errors, a 3-minute hold, each flag and no run notify the topic on ALARM and OK', () => {
    const topic = { Ref: Match.stringLikeRegexp('^AlarmsTopic') };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Threshold: 1,
      EvaluationPeriods: 1,
      AlarmActions: [topic],
      OKActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'RtcHa/Watchdog',
      MetricName: 'Holds',
      Statistic: 'Minimum',
      Period: 60,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Watchdog') } }],
      AlarmActions: [topic],
      OKActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'RtcHa/Watchdog',
      MetricName: 'Flags',
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 1,
      AlarmActions: [topic],
      OKActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Watchdog') } }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 3,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });

  test('GIVEN the cluster WHEN checked THEN cdk-nag AwsSolutions and the CloudFormation validator find nothing', () => {
    const app = fixture.app;
    const pack = new AwsSolutionsChecks(app);
    Validations.of(app).addPlugins(pack);
    expect(pack.validateScope(app).violations).toEqual([]);
    expect(cloudFormationFindings(app)).toEqual([]);
  });

  test("GIVEN the cluster WHEN synthesized THEN the watchdog's resources match the snapshot", () => {
    const { Resources } = template.toJSON() as { Resources: Record<string, unknown> };
    expect(Object.entries(Resources).filter(([id]) => id.startsWith('Watchdog'))).toMatchSnapshot();
  });

  test('GIVEN the cluster WHEN synthesized THEN its alarms are made through the alarms construct and so kept in its list', () => {
    const alarms = fixture.stack.node.findChild('Alarms') as ClusterAlarms;
    const { watchdog } = fixture;
    expect(alarms.alarms).toEqual([
      watchdog.errorsAlarm,
      watchdog.holdAlarm,
      watchdog.flagAlarm,
      watchdog.notRunningAlarm,
    ]);
    expect(watchdog.notRunningAlarm.node.path).toBe('Cluster/Watchdog/NotRunningAlarm');
  });

  test("GIVEN two fleets WHEN built THEN the watchdog's role gets SetInstanceHealth through each fleet's own grant", () => {
    const masters = minimalFleet();
    const media = minimalFleet();
    const grants = [
      jest.spyOn(masters, 'grantSetInstanceHealth'),
      jest.spyOn(media, 'grantSetInstanceHealth'),
    ];
    const { stack } = build({ masters: { fleet: masters }, media: { fleet: media } });
    const role = stack.node.findChild('Watchdog').node.findChild('Role');
    for (const grant of grants) expect(grant).toHaveBeenCalledWith(role);
  });

  test('GIVEN masters.minHealthyShare below 0.5 WHEN built THEN a warning, not an error', () => {
    const { stack } = build({ masters: { fleet: minimalFleet(), minHealthyShare: 0.4 } });
    Annotations.fromStack(stack).hasWarning(
      '/Cluster/Watchdog',
      Match.stringLikeRegexp('minHealthyShare is below 0.5'),
    );
  });

  test.each<[string, Partial<FleetWatchdogProps>, string, RegExp]>([
    [
      'two masters',
      { masters: { fleet: minimalFleet({ minCapacity: 2 }) } },
      'rtc-ha:watchdogCannotReplaceMasters',
      /^With 2 masters the watchdog never flags a dead one: 1 of 2 healthy is not more than masters.minHealthyShare 0.5 .*a minimum capacity of 3 or more/,
    ],
    [
      'one media node',
      { media: { fleet: minimalFleet({ minCapacity: 1 }) } },
      'rtc-ha:watchdogCannotReplaceMedia',
      /^With 1 media nodes the watchdog never flags a dead one: 0 of 1 healthy is not more than media.minHealthyShare 0.4 .*a minimum capacity of 2 or more/,
    ],
    [
      'four media nodes that must keep 80 % healthy',
      { media: { fleet: minimalFleet({ minCapacity: 4 }), minHealthyShare: 0.8 } },
      'rtc-ha:watchdogCannotReplaceMedia',
      /3 of 4 healthy is not more than media.minHealthyShare 0.8 .*a minimum capacity of 6 or more/,
    ],
  ])(
    'GIVEN %s WHEN built THEN it warns from the minimum capacity that the majority rail never lets a dead node go',
    (_, overrides, id, message) => {
      const { stack } = build(overrides);
      const warnings = Annotations.fromStack(stack).findWarning('/Cluster/Watchdog', Match.anyValue());
      expect(warnings.map((w) => w.entry.data)).toEqual([expect.stringMatching(message)]);
      expect(JSON.stringify(warnings)).toContain(id);
    },
  );

  test('GIVEN fleets that can lose a node at their minimum WHEN built THEN no warning', () => {
    const { stack } = build({
      masters: { fleet: minimalFleet({ minCapacity: 3 }) },
      media: { fleet: minimalFleet({ minCapacity: 2 }) },
    });
    Annotations.fromStack(stack).hasNoWarning('/Cluster/Watchdog', Match.anyValue());
  });

  test.each<[Partial<FleetWatchdogProps>, RegExp]>([
    [{ cycle: Duration.millis(500) }, /cycle must be whole seconds from 1 to 30 \(got 500 millis\)/],
    [{ cycle: Duration.millis(1500) }, /cycle must be whole seconds from 1 to 30/],
    [{ cycle: Duration.minutes(1) }, /cycle must be whole seconds from 1 to 30 \(got 1 minute\)/],
    [{ holdAlarmAfter: Duration.seconds(90) }, /holdAlarmAfter must be whole minutes from 1 to 60/],
    [{ holdAlarmAfter: Duration.hours(2) }, /holdAlarmAfter must be whole minutes from 1 to 60/],
    [
      { keyPrefix: 'rtc bad' },
      /keyPrefix must be up to 32 letters, digits, ":", "_" or "-" \(got "rtc bad"\)/,
    ],
  ])('GIVEN %p WHEN built THEN it throws naming the prop', (overrides, message) => {
    expect(() => build(overrides)).toThrow(message);
  });

  test('GIVEN several bad fleet props WHEN built THEN one error lists every problem', () => {
    const bad = { fleet: minimalFleet(), maxFlagsPerCycle: 0, minHealthyShare: 1 };
    expect(() => build({ masters: bad, media: { ...bad, maxFlagsPerCycle: 1.5 } })).toThrow(
      [
        'Invalid FleetWatchdog props:',
        '  - masters.maxFlagsPerCycle must be an integer from 1 to 100 (got 0)',
        '  - masters.minHealthyShare must be at least 0 and below 1 (got 1)',
        '  - media.maxFlagsPerCycle must be an integer from 1 to 100 (got 1.5)',
        '  - media.minHealthyShare must be at least 0 and below 1 (got 1)',
      ].join('\n'),
    );
  });
});

/** The watchdog function's properties (the app's feature flags add functions of their own). */
function watchdogFunction(template: Template) {
  const found = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: Match.stringLikeRegexp('^rtc-ha watchdog') },
  });
  expect(Object.keys(found)).toHaveLength(1);
  return Object.values(found)[0].Properties;
}

/** An Auto Scaling group ARN as the template spells it, ending in `tail`. */
function groupArn(...tail: unknown[]) {
  const head = [
    'arn:',
    { Ref: 'AWS::Partition' },
    ':autoscaling:',
    { Ref: 'AWS::Region' },
    ':',
    { Ref: 'AWS::AccountId' },
  ];
  return { 'Fn::Join': ['', [...head, ...tail]] };
}

/** A fleet of its own stack, for validation and warning tests. */
function minimalFleet(more: Partial<IWatchedFleet> = {}): IWatchedFleet {
  const stack = new Stack();
  return watchedFleet(autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'g'), more);
}
