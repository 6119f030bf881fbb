import { Match, Template } from 'aws-cdk-lib/assertions';
import { MasterFleet, MasterFleetProps } from '../../../constructs/master-fleet';
import { SignalingLoadBalancer } from '../../../constructs/signaling-load-balancer';
import { Fixture, fixture, fleetDependencies } from '../support/app';

function build(props: Partial<MasterFleetProps> = {}): Fixture & { fleet: MasterFleet } {
  const f = fixture();
  return {
    ...f,
    fleet: new MasterFleet(f.stack, 'Masters', { vpc: f.vpc, ...fleetDependencies(f), ...props }),
  };
}

describe('MasterFleet', () => {
  let template: Template;
  beforeAll(() => {
    // GIVEN a load balancer  WHEN the masters register in its target group
    const f = fixture();
    const lb = new SignalingLoadBalancer(f.stack, 'Lb', { vpc: f.vpc });
    new MasterFleet(f.stack, 'Masters', { vpc: f.vpc, ...fleetDependencies(f), targetGroup: lb.targetGroup });
    template = Template.fromStack(f.stack);
  });

  it('runs three masters by default in the private subnets of both AZs', () => {
    // THEN
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '3',
      MaxSize: '6',
      DesiredCapacity: Match.absent(),
      VPCZoneIdentifier: [
        { Ref: Match.stringLikeRegexp('VpcPrivateSubnet1') },
        { Ref: Match.stringLikeRegexp('VpcPrivateSubnet2') },
      ],
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ NetworkInterfaces: Match.absent() }),
    });
  });

  it('tracks 60 % average CPU between its minimum and maximum', () => {
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      AutoScalingGroupName: { Ref: Match.stringLikeRegexp('^MastersASG') },
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' },
        TargetValue: 60,
      },
    });
  });

  it('registers in the target group but keeps EC2 health checks (docs/architecture.md rule 2)', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      TargetGroupARNs: [{ Ref: Match.stringLikeRegexp('LbTargets') }],
      HealthCheckType: 'EC2',
    });
  });

  it('admits the load balancer on the master port and nothing else from outside', () => {
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((p) => JSON.stringify(p.GroupId).includes('MastersSecurityGroup'));
    expect(ingress).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 8080,
        ToPort: 8080,
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^LbSecurityGroup/), 'GroupId'] },
      }),
    ]);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'rtc-ha master nodes',
      SecurityGroupIngress: Match.absent(),
    });
  });

  it('tells the runtime its port', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Value: {
        'Fn::Join': [
          '',
          [
            Match.stringLikeRegexp('^RTC_PORT=8080\n'),
            Match.anyValue(),
            ':6380\nRTC_LIFECYCLE_HOOK_NAME=rtc-ha-drain',
          ],
        ],
      },
    });
  });

  it('listens on the port asked for', () => {
    const { fleet } = build({ port: 8443 });
    expect(fleet.port).toBe(8443);
    expect(fleet.connections.defaultPort?.toString()).toBe('8443');
  });

  it('hands out TURN credentials only when given TURN: its secret, port and TLS name', () => {
    // GIVEN masters without TURN, and masters with TURN over TLS
    const settings = (t: Template) => JSON.stringify(t.toJSON());
    expect(settings(template)).not.toMatch(/RTC_TURN_/);
    const f = fixture();
    const deps = fleetDependencies(f);
    new MasterFleet(f.stack, 'Masters', {
      vpc: f.vpc,
      ...deps,
      turn: { secret: deps.turnSecret, port: 3478, tlsHostName: '{ip}.turn.example.com' },
    });
    // THEN the settings name the port and the TLS name, and the secret is one the masters read
    const json = settings(Template.fromStack(f.stack));
    expect(json).toContain('RTC_TURN_PORT=3478\\nRTC_TURN_TLS_HOST={ip}.turn.example.com');
    expect(json).toMatch(/RTC_BOOT_SECRETS=.*,RTC_TURN_SECRET=",\{"Ref":"TurnSecret/);
  });

  it.each<[string, Partial<MasterFleetProps>, RegExp]>([
    ['a single master', { minCapacity: 1 }, /minCapacity must be an integer from 2 to 999 \(got 1\)/],
    ['a privileged port', { port: 80 }, /port must be an integer from 1024 to 65535/],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
