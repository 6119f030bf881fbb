import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { StandbyPair, hostOf } from '../../../constructs/standby-pair';
import { StandbyStack, StandbyStackProps } from '../../../lib/stacks/standby-stack';
import { validateConfig } from '../../../lib/config';
import { cloudFormationFindings, testApp, withPolicyResourcesSorted } from '../support/app';
import { acknowledgedControls, Synthesized, synthesize } from '../support/synth';

/** Synthesizing bundles the node program with esbuild: seconds on 2 busy cores. */
jest.setTimeout(120_000);

function build(props: StandbyStackProps = {}) {
  const app = testApp();
  const stack = new StandbyStack(app, 'RtcHaPair', props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The pair's settings parameter as `RTC_NAME -> value` (values with tokens stay CloudFormation intrinsics). */
function settingsOf(template: Template): string {
  const parameters = template.findResources('AWS::SSM::Parameter', {
    Properties: { Description: Match.stringLikeRegexp('rtc-ha master settings') },
  });
  return JSON.stringify(Object.values(parameters)[0].Properties.Value);
}

describe('StandbyStack (the active-standby pair)', () => {
  const { app, stack, template } = build();

  test('GIVEN defaults THEN two nodes in two AZs at fixed pair addresses, and one Elastic IP', () => {
    template.resourceCountIs('AWS::EC2::Instance', 2);
    template.resourceCountIs('AWS::EC2::EIP', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const instances = Object.values(template.findResources('AWS::EC2::Instance'));
    const addresses = instances.map((i) => i.Properties.NetworkInterfaces[0].PrivateIpAddress);
    expect(addresses).toEqual(['10.41.0.10', '10.41.1.10']);
    const subnets = instances.map((i) => JSON.stringify(i.Properties.NetworkInterfaces[0].SubnetId));
    expect(new Set(subnets).size).toBe(2);
    for (const instance of instances) {
      expect(instance.Properties).toMatchObject({
        InstanceType: 'm7g.medium',
        Monitoring: true,
        NetworkInterfaces: [expect.objectContaining({ AssociatePublicIpAddress: true })],
        MetadataOptions: { HttpTokens: 'required' },
      });
    }
    template.resourceCountIs('AWS::EC2::LaunchTemplate', 0);
  });

  test('THEN IAM lets the nodes move only this Elastic IP, and only onto these two instances', () => {
    const [first, second] = stack.pair.instances.map((i) =>
      stack.getLogicalId(i.node.defaultChild as ec2.CfnInstance),
    );
    const eip = stack.getLogicalId(stack.pair.elasticIp);
    const arn = (resource: string, id: unknown) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ec2:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:${resource}/`,
          id,
        ],
      ],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 'ec2:AssociateAddress',
            Effect: 'Allow',
            Resource: [
              arn('elastic-ip', { 'Fn::GetAtt': [eip, 'AllocationId'] }),
              arn('instance', { Ref: first }),
              arn('instance', { Ref: second }),
            ],
          },
          { Action: 'ec2:DescribeAddresses', Effect: 'Allow', Resource: '*' },
        ],
      },
    });
    const associate = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      p.Properties.PolicyDocument.Statement.filter((s: { Action: unknown }) =>
        JSON.stringify(s.Action).includes('AssociateAddress'),
      ),
    );
    expect(associate).toHaveLength(1);
  });

  test('THEN clients reach the signaling port; the pair link (VRRP, store, agents) only the nodes themselves', () => {
    const group = stack.getLogicalId(stack.pair.securityGroup.node.defaultChild as ec2.CfnSecurityGroup);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.arrayWith([
        Match.objectLike({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443 }),
      ]),
    });
    for (const [protocol, port] of [
      ['112', undefined],
      ['tcp', 6379],
      ['tcp', 9191],
    ] as const) {
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        IpProtocol: protocol,
        GroupId: { 'Fn::GetAtt': [group, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [group, 'GroupId'] },
        ...(port ? { FromPort: port, ToPort: port } : {}),
      });
    }
  });

  test('THEN one settings parameter serves both nodes: the pair addresses (preferred first), the Elastic IP, the failback', () => {
    const settings = settingsOf(template);
    for (const line of [
      'RTC_STANDBY_PAIR_ADDRESSES=10.41.0.10,10.41.1.10',
      'RTC_STANDBY_FAILBACK=automatic',
      'RTC_STANDBY_PREEMPT_DELAY_S=10',
      'RTC_SERVE_LEASE_FILE=/run/rtc-ha-standby/serve.json',
      'RTC_REDIS_URL=redis://127.0.0.1:6379',
      'RTC_STANDBY_EIP_ALLOCATION_ID=',
    ]) {
      expect(settings).toContain(line);
    }
  });

  test('THEN user data only configures the baked pair image: the media agent gets its own settings and the Elastic IP', () => {
    const userData = JSON.stringify(
      Object.values(template.findResources('AWS::EC2::Instance'))[0].Properties.UserData,
    );
    expect(userData).toContain('/opt/rtc-ha/bin/rtc-ha-node configure');
    expect(userData).toMatch(/--media-set 'RTC_BOOT_SETTINGS_PARAMETER=/);
    expect(userData).toMatch(/--media-set 'RTC_BOOT_PUBLIC_ADDRESS=/);
    // Nothing is fetched at boot: keepalived, redis-server, Janus and coturn are in the image.
    expect(userData).not.toContain('apt-get');
    const component = JSON.stringify(template.findResources('AWS::ImageBuilder::Component'));
    expect(component).toContain('--role pair');
  });

  test("THEN the media agents run Janus and TURN, and clients reach them: Janus's UDP range and TURN on 443", () => {
    const media = JSON.stringify(
      Object.values(
        template.findResources('AWS::SSM::Parameter', {
          Properties: { Description: Match.stringLikeRegexp('media agents') },
        }),
      )[0].Properties.Value,
    );
    for (const line of ['RTC_JANUS=on', 'RTC_TURN_PORT=443', 'RTC_MEDIA_PORT_MIN=40000', 'RTC_PORT=9090']) {
      expect(media).toContain(line);
    }
    const settings = settingsOf(template);
    expect(settings).toContain('RTC_TURN_PORT=443');
    const ingress = template.findResources('AWS::EC2::SecurityGroup');
    const rules = Object.values(ingress).flatMap((g) => g.Properties.SecurityGroupIngress ?? []);
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'udp', FromPort: 40000, ToPort: 49999 }),
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'udp', FromPort: 443, ToPort: 443 }),
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
      ]),
    );
    const secrets = JSON.stringify(
      Object.values(template.findResources('AWS::EC2::Instance'))[0].Properties.UserData,
    );
    for (const name of [
      'RTC_MEDIA_CONTROL_SECRET',
      'RTC_TURN_SECRET',
      'RTC_API_SECRET',
      'RTC_REDIS_AUTH_TOKEN',
    ]) {
      expect(secrets).toContain(`${name}=`);
    }
  });

  test('THEN it warns that the pair serves plain HTTP', () => {
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('plain HTTP and WebSocket'));
  });

  test('THEN cdk-nag AwsSolutions and the CloudFormation validation find nothing', () => {
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
    expect(cloudFormationFindings(app)).toEqual([]);
  });

  test('THEN it acknowledges only cdk-nag findings that exist, each once', () => {
    const acknowledged: string[] = [];
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation((...rules) => {
      acknowledged.push(...rules.map((r) => r.id).filter((id) => id.startsWith('AwsSolutions-')));
    });
    try {
      const unacknowledged = build().app;
      const found = new AwsSolutionsChecks(unacknowledged)
        .validateScope(unacknowledged)
        .violations.flatMap((v) => v.violatingResources.map(() => v.ruleName));
      expect(found.sort()).toEqual(acknowledged.sort());
    } finally {
      spy.mockRestore();
    }
  });

  test('THEN the template matches the snapshot', () => {
    expect(withPolicyResourcesSorted(template.toJSON())).toMatchSnapshot();
  });
});

describe('StandbyPair options', () => {
  const TLS = {
    certificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:pair-tls-AbC123',
    domainName: 'rtc.example.org',
  };

  test('GIVEN TLS THEN both programs read the certificate, clients use wss:// on the name, and no warning', () => {
    const { stack, template } = build({ tls: TLS });
    const userData = JSON.stringify(
      Object.values(template.findResources('AWS::EC2::Instance'))[0].Properties.UserData,
    );
    expect(userData).toContain(`RTC_TLS_PEM=${TLS.certificateSecretArn}`);
    expect(userData).toContain(`RTC_TURN_TLS_PEM=${TLS.certificateSecretArn}`);
    expect(settingsOf(template)).toContain('RTC_TURN_TLS_HOST=rtc.example.org');
    expect(settingsOf(template)).toContain('RTC_STANDBY_PEER_SERVICE_URL=https://rtc.example.org:8443/ready');
    template.hasOutput('SignalingUrl', { Value: 'wss://rtc.example.org:8443/ws' });
    template.hasOutput('RestUrl', { Value: 'https://rtc.example.org:8443' });
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('plain HTTP'));
  });

  test('GIVEN manual failback and a delay THEN the settings carry them', () => {
    const settings = settingsOf(build({ failback: 'manual', preemptDelay: Duration.seconds(30) }).template);
    expect(settings).toContain('RTC_STANDBY_FAILBACK=manual');
    expect(settings).toContain('RTC_STANDBY_PREEMPT_DELAY_S=30');
  });

  test('GIVEN narrower clients THEN only they reach the signaling port', () => {
    const { template } = build({ clients: ec2.Peer.ipv4('198.51.100.0/24') });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.arrayWith([
        Match.objectLike({ CidrIp: '198.51.100.0/24', FromPort: 8443 }),
      ]),
    });
  });

  test('GIVEN bad props THEN every problem in one error, each naming its field', () => {
    expect(() =>
      build({
        failback: 'sometimes' as 'manual',
        preemptDelay: Duration.millis(1500),
        privateAddresses: ['10.41.0.10', '10.41.0.10'],
      }),
    ).toThrow(
      /Invalid StandbyStack props:\n {2}- failback must be automatic or manual .*\n {2}- preemptDelay must be whole seconds from 0 to 1000 .*\n {2}- privateAddresses must name two different addresses/,
    );
    expect(() => build({ privateAddresses: ['10.41.0.10'] })).toThrow(
      /privateAddresses must name two addresses/,
    );
    expect(() => build({ privateAddresses: ['ten', '10.41.1.10'] })).toThrow(
      /privateAddresses must be IPv4 addresses/,
    );
  });

  test('GIVEN one AZ, or subnets whose CIDR blocks are unknown THEN it says what to fix', () => {
    const app = testApp();
    const stack = new Stack(app, 'OneAz');
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: 'P', subnetType: ec2.SubnetType.PUBLIC }],
    });
    expect(() => new StandbyPair(stack, 'Pair', { vpc })).toThrow(
      /vpcSubnets must select two subnets in different Availability Zones/,
    );

    const imported = ec2.Vpc.fromVpcAttributes(stack, 'Imported', {
      vpcId: 'vpc-1',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      publicSubnetIds: ['subnet-a', 'subnet-b'],
    });
    expect(() => new StandbyPair(stack, 'Pair2', { vpc: imported })).toThrow(
      /privateAddresses required when the subnets' CIDR blocks are not known at synth/,
    );
  });
});

describe('the pair as the app builds it (topology: pair)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(validateConfig({ topology: 'pair' }));
  }, 120_000);

  test('THEN the app synthesizes a StandbyStack named as configured', () => {
    expect(s.stack).toBeInstanceOf(StandbyStack);
    expect(s.stack.stackName).toBe('RtcHa');
  });

  test('THEN neither the CloudFormation validation nor AWS Control Tower finds anything unacknowledged', () => {
    expect(s.cfnFindings).toEqual([]);
    expect(s.controls.violations).toEqual([]);
    // The pair's design exceptions (docs/security.md): media from any address to the active node, as on
    // the cluster's media nodes; a public address on each node instead of a NAT gateway; CDK's handler.
    expect(acknowledgedControls(s)).toEqual({
      'CT.EC2.PR.3': [expect.stringMatching(/^PairSecurityGroup/)],
      'CT.EC2.PR.8': [expect.stringMatching(/^PairNode1/), expect.stringMatching(/^PairNode2/)],
      'CT.LAMBDA.PR.3': [expect.stringMatching(/^CustomVpcRestrictDefaultSG/)],
    });
  });
});

test('hostOf: the nth address of a CIDR block', () => {
  expect(hostOf('10.41.0.0/24', 10)).toBe('10.41.0.10');
  expect(hostOf('10.41.255.250/20', 10)).toBe('10.42.0.4');
});
