import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { MediaFleet, MediaFleetProps } from '../../../constructs/media-fleet';
import { Fixture, fixture, fleetDependencies } from '../support/app';

type Built = Fixture & { fleet: MediaFleet };

function build(props: Partial<MediaFleetProps> = {}): Built {
  const f = fixture();
  return { ...f, fleet: new MediaFleet(f.stack, 'Media', { vpc: f.vpc, ...fleetDependencies(f), ...props }) };
}

/** The ingress rules of the media security group, as [protocol, from, to, source]. */
function ingressOf(template: Template): [string, number, number, string][] {
  const [group] = Object.values(
    template.findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: 'rtc-ha media nodes' },
    }),
  );
  const inline = (group.Properties.SecurityGroupIngress ?? []).map(
    (r: { IpProtocol: string; FromPort: number; ToPort: number; CidrIp: string }) => [
      r.IpProtocol,
      r.FromPort,
      r.ToPort,
      r.CidrIp,
    ],
  );
  const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
    .map((r) => r.Properties)
    .filter((p) => JSON.stringify(p.GroupId).includes('MediaSecurityGroup'))
    .map((p) => [p.IpProtocol, p.FromPort, p.ToPort, JSON.stringify(p.SourceSecurityGroupId)]);
  return [...inline, ...separate];
}

const TLS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rtc-ha/turn-tls-AbC123';

describe('MediaFleet', () => {
  let built: Built;
  let template: Template;
  beforeAll(() => {
    // GIVEN the defaults  WHEN the media fleet is built and the masters are let in to its control port
    built = build();
    const masters = new ec2.SecurityGroup(built.stack, 'Masters', { vpc: built.vpc });
    built.fleet.allowControlFrom(masters);
    template = Template.fromStack(built.stack);
  });

  it('runs in the public subnets with public IPv4 addresses', () => {
    // THEN
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      VPCZoneIdentifier: [
        { Ref: Match.stringLikeRegexp('VpcPublicSubnet1') },
        { Ref: Match.stringLikeRegexp('VpcPublicSubnet2') },
      ],
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: true, DeviceIndex: 0 })],
      }),
    });
  });

  it('launches compute-optimized Graviton nodes, falling back to two other families', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MixedInstancesPolicy: Match.objectLike({
        LaunchTemplate: Match.objectLike({
          Overrides: [
            { InstanceType: 'c7g.large' },
            { InstanceType: 'c6gn.large' },
            { InstanceType: 'm7g.large' },
          ],
        }),
      }),
    });
  });

  it('keeps a floor of minCapacity + spareCapacity nodes (N+M) and room to scale', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '2', MaxSize: '6' });
    template.hasResource('AWS::AutoScaling::AutoScalingGroup', {
      UpdatePolicy: Match.objectLike({
        AutoScalingRollingUpdate: Match.objectLike({ MinInstancesInService: 2 }),
      }),
    });
    expect(built.fleet.minCapacity).toBe(2);
  });

  it("opens exactly Janus's UDP range and TURN's port 443 to clients, the control port to the masters only", () => {
    // No TURN relay port: a relay's only peer is the node's own Janus.
    expect(ingressOf(template)).toEqual([
      ['udp', 40000, 49999, '0.0.0.0/0'],
      ['udp', 443, 443, '0.0.0.0/0'],
      ['tcp', 443, 443, '0.0.0.0/0'],
      ['tcp', 9090, 9090, expect.stringContaining('"Masters')],
    ]);
    expect(built.fleet.turn).toEqual({ enabled: true, port: 443 });
  });

  it('tells the agent its control port, the RTP range, to run Janus and where its config goes', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Value: {
        'Fn::Join': [
          '',
          [
            Match.stringLikeRegexp('^RTC_PORT=9090\n'),
            Match.anyValue(),
            ':6380\nRTC_LIFECYCLE_HOOK_NAME=rtc-ha-drain\nRTC_MEDIA_PORT_MIN=40000\nRTC_MEDIA_PORT_MAX=49999\n' +
              'RTC_JANUS=on\nRTC_JANUS_CONFIG_DIR=/run/rtc-ha/janus\nRTC_TURN_PORT=443',
          ],
        ],
      },
    });
  });

  it("gets the control secret and TURN's, never the REST API secret, which only masters use", () => {
    const json = JSON.stringify(template.toJSON());
    expect(json).toMatch(
      /RTC_BOOT_SECRETS=RTC_REDIS_AUTH_TOKEN=.*,RTC_MEDIA_CONTROL_SECRET=.*,RTC_TURN_SECRET=/,
    );
    expect(json).not.toContain('RTC_API_SECRET');
    const secretReads = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      p.Properties.PolicyDocument.Statement.filter((st: { Action: unknown }) =>
        JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue'),
      ),
    );
    expect(secretReads).toEqual([
      expect.objectContaining({
        Resource: [
          { Ref: expect.stringMatching(/^MediaControlSecret/) },
          { Ref: expect.stringMatching(/^StoreAuthToken/) },
          { Ref: expect.stringMatching(/^TurnSecret/) },
        ],
      }),
    ]);
  });

  it('lets the nodes put metric data in the RtcHa/Media namespace only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^MediaLoadMetricPolicy'),
      PolicyDocument: {
        Statement: [
          {
            Action: 'cloudwatch:PutMetricData',
            Effect: 'Allow',
            Resource: '*',
            Condition: { StringEquals: { 'cloudwatch:namespace': 'RtcHa/Media' } },
          },
        ],
      },
    });
  });

  it('scales out at 70 % and in at 30 % average load, over 3 minutes', () => {
    expect(built.fleet.scalingMode).toBe('step');
    template.resourceCountIs('AWS::AutoScaling::ScalingPolicy', 2);
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      AdjustmentType: 'ChangeInCapacity',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }],
    });
    const loadMetric = {
      Namespace: 'RtcHa/Media',
      MetricName: 'LoadPercent',
      Dimensions: [{ Name: 'AutoScalingGroupName', Value: { Ref: Match.stringLikeRegexp('^MediaASG') } }],
      Statistic: 'Average',
      Period: 60,
    };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...loadMetric,
      Threshold: 70,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^MediaLoadScaleOutPolicy') }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...loadMetric,
      Threshold: 30,
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^MediaLoadScaleInPolicy') }],
    });
    // Not the CPU of the instances, which an idle agent keeps low and a busy Janus on one core hides.
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('CPUUtilization');
  });

  it('tracks a load target instead when asked', () => {
    const { stack, fleet } = build({ scaling: { mode: 'target-tracking', targetLoadPercent: 55 } });
    expect(fleet.scalingMode).toBe('target-tracking');
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::AutoScaling::ScalingPolicy', 1);
    t.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        CustomizedMetricSpecification: {
          Namespace: 'RtcHa/Media',
          MetricName: 'LoadPercent',
          Dimensions: [{ Name: 'AutoScalingGroupName', Value: { Ref: Match.stringLikeRegexp('^MediaASG') } }],
          Statistic: 'Average',
        },
        TargetValue: 55,
      },
    });
  });

  it('takes its ports, thresholds and capacity from props', () => {
    const { stack } = build({
      minCapacity: 4,
      spareCapacity: 2,
      maxCapacity: 20,
      controlPort: 9443,
      mediaPortMin: 30000,
      mediaPortMax: 30999,
      turn: { port: 3478 },
      scaling: { scaleOutLoadPercent: 80, scaleInLoadPercent: 20 },
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '6', MaxSize: '20' });
    expect(ingressOf(t)).toEqual([
      ['udp', 30000, 30999, '0.0.0.0/0'],
      ['udp', 3478, 3478, '0.0.0.0/0'],
      ['tcp', 3478, 3478, '0.0.0.0/0'],
    ]);
    expect(JSON.stringify(t.toJSON())).toContain('RTC_TURN_PORT=3478');
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { Threshold: 80 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { Threshold: 20 });
  });

  it('hands the nodes the TLS certificate secret, read where it lies, and the name only to the masters', () => {
    const { stack } = build({
      turn: { tlsCertificateSecretArn: TLS_SECRET_ARN, tlsHostName: '{ip}.turn.example.com' },
    });
    const t = Template.fromStack(stack);
    const json = JSON.stringify(t.toJSON());
    expect(json).toContain(`RTC_TURN_TLS_PEM=${TLS_SECRET_ARN}`);
    expect(json).not.toContain('turn.example.com');
    const secretReads = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) =>
      p.Properties.PolicyDocument.Statement.filter((st: { Action: unknown }) =>
        JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue'),
      ),
    );
    expect(secretReads).toEqual([
      expect.objectContaining({ Resource: expect.arrayContaining([TLS_SECRET_ARN]) }),
    ]);
  });

  it('runs no TURN, opens no TURN port and needs no TURN secret when turned off', () => {
    const { stack, fleet } = build({ turn: { enabled: false }, turnSecret: undefined });
    const t = Template.fromStack(stack);
    expect(fleet.turn).toBeUndefined();
    expect(ingressOf(t).map(([proto, from]) => `${proto} ${from}`)).toEqual(['udp 40000']);
    expect(JSON.stringify(t.toJSON())).not.toMatch(/RTC_TURN_/);
  });

  it.each<[string, Partial<MediaFleetProps>, RegExp]>([
    ['no base capacity', { minCapacity: 0 }, /minCapacity must be an integer from 1 to 999/],
    ['a negative spare capacity', { spareCapacity: -1 }, /spareCapacity must be an integer from 0 to 999/],
    ['a privileged control port', { controlPort: 90 }, /controlPort must be an integer from 1024 to 65535/],
    [
      'a media range below 1024',
      { mediaPortMin: 1000 },
      /mediaPortMin must be an integer from 1024 to 65535/,
    ],
    [
      'a media range above 65535',
      { mediaPortMax: 70000 },
      /mediaPortMax must be an integer from 1024 to 65535/,
    ],
    [
      'an inverted media range',
      { mediaPortMin: 50000, mediaPortMax: 40000 },
      /mediaPortMin must not exceed mediaPortMax \(50000 > 40000\)/,
    ],
    [
      'a control port inside the media range',
      { controlPort: 45000 },
      /controlPort must lie outside the media range 40000-49999/,
    ],
    ['a TURN port out of range', { turn: { port: 0 } }, /turn.port must be an integer from 1 to 65535/],
    [
      'a TURN port inside the media range',
      { turn: { port: 41000 } },
      /turn.port must lie outside the media range 40000-49999/,
    ],
    [
      'a TURN port on the control port',
      { turn: { port: 9090 } },
      /turn.port must not be the control port 9090/,
    ],
    [
      'a TURN port among the relay ports',
      { turn: { port: 55000 } },
      /turn.port must lie outside TURN's relay ports 50000-59999/,
    ],
    [
      'a media range over the TURN relay ports',
      { mediaPortMax: 50000 },
      /mediaPortMin to mediaPortMax \(40000-50000\) must not overlap TURN's relay ports 50000-59999/,
    ],
    [
      'a TLS certificate without a host name',
      { turn: { tlsCertificateSecretArn: TLS_SECRET_ARN } },
      /turn.tlsHostName and turn.tlsCertificateSecretArn go together/,
    ],
    [
      'a partial secret ARN',
      { turn: { tlsCertificateSecretArn: TLS_SECRET_ARN.slice(0, -7), tlsHostName: 'turn.example.com' } },
      /turn.tlsCertificateSecretArn must be the complete ARN of a Secrets Manager secret/,
    ],
    [
      'an upper-case host name',
      { turn: { tlsCertificateSecretArn: TLS_SECRET_ARN, tlsHostName: 'Turn.Example.com' } },
      /turn.tlsHostName must be a lowercase DNS name/,
    ],
    [
      'TLS for a TURN that is off',
      { turn: { enabled: false, tlsHostName: 'turn.example.com' } },
      /turn.tlsHostName needs turn.enabled/,
    ],
    ['TURN without its secret', { turnSecret: undefined }, /turnSecret is required while turn.enabled/],
    [
      'an unknown scaling mode',
      { scaling: { mode: 'predictive' as 'step' } },
      /scaling.mode must be "step" or "target-tracking"/,
    ],
    [
      'a scale-out threshold of 100 %',
      { scaling: { scaleOutLoadPercent: 100 } },
      /scaling.scaleOutLoadPercent must be an integer from 1 to 99/,
    ],
    [
      'a scale-in threshold of 0 %',
      { scaling: { scaleInLoadPercent: 0 } },
      /scaling.scaleInLoadPercent must be an integer from 1 to 99/,
    ],
    [
      'a target of 0 %',
      { scaling: { targetLoadPercent: 0 } },
      /scaling.targetLoadPercent must be an integer from 1 to 99/,
    ],
    [
      'a scale-in threshold above the scale-out one',
      { scaling: { scaleOutLoadPercent: 40, scaleInLoadPercent: 60 } },
      /scaling.scaleInLoadPercent must be less than scaling.scaleOutLoadPercent \(60 >= 40\)/,
    ],
    [
      'a maximum that leaves no room above the floor',
      { minCapacity: 3, spareCapacity: 2, maxCapacity: 5 },
      /maxCapacity must be greater than minCapacity \+ spareCapacity \(5 <= 5\)/,
    ],
    [
      'a desired count below the floor',
      { minCapacity: 2, spareCapacity: 2, desiredCapacity: 3 },
      /desiredCapacity must be from minCapacity \+ spareCapacity \(4\) to maxCapacity \(12\); got 3/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
