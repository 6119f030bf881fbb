import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Network, NetworkProps } from '../../../constructs/network';
import { testApp } from '../support/app';

const ENV = { account: '111122223333', region: 'eu-west-1' };

function build(props: NetworkProps = {}, env?: typeof ENV): { app: App; stack: Stack; network: Network } {
  const app = testApp();
  const stack = new Stack(app, 'Test', { env });
  return { app, stack, network: new Network(stack, 'Network', props) };
}

describe('Network', () => {
  describe('with the defaults', () => {
    let template: Template;
    let stack: Stack;
    beforeAll(() => {
      // GIVEN no props  WHEN the network is built
      ({ stack } = build());
      template = Template.fromStack(stack);
    });

    it('creates a VPC with one public and one private subnet in each of two AZs', () => {
      // THEN
      template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.40.0.0/16' });
      template.resourceCountIs('AWS::EC2::Subnet', 4);
      template.hasResourceProperties('AWS::EC2::Subnet', {
        CidrBlock: '10.40.0.0/24',
        MapPublicIpOnLaunch: false,
      });
    });

    it('has one NAT gateway and warns that it is a single point of failure for egress', () => {
      template.resourceCountIs('AWS::EC2::NatGateway', 1);
      Annotations.fromStack(stack).hasWarning(
        '/Test/Network',
        Match.stringLikeRegexp('1 NAT gateway\\(s\\) for 2 AZs'),
      );
    });

    it('logs all traffic to CloudWatch Logs, kept a year', () => {
      template.hasResourceProperties('AWS::EC2::FlowLog', {
        TrafficType: 'ALL',
        LogDestinationType: 'cloud-watch-logs',
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    });
  });

  it('reaches the AWS APIs the nodes and the watchdog call through endpoints in every AZ, when asked to', () => {
    const { stack, network } = build({ vpcEndpoints: true });
    const template = Template.fromStack(stack);
    const services = Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((e) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    for (const service of ['ssm', 'secretsmanager', 'cloudformation', 'logs', 'monitoring']) {
      expect(services.some((name) => name.includes(`.${service}"`))).toBe(true);
    }
    for (const service of ['autoscaling', 'ec2', 'elasticloadbalancing', 'elasticache']) {
      expect(services.some((name) => name.includes(`.${service}"`))).toBe(true);
    }
    expect(services).toHaveLength(9);
    template.allResourcesProperties('AWS::EC2::VPCEndpoint', {
      PrivateDnsEnabled: true,
      SubnetIds: [
        { Ref: Match.stringLikeRegexp('NetworkPrivateSubnet1') },
        { Ref: Match.stringLikeRegexp('NetworkPrivateSubnet2') },
      ],
    });
    expect(network.apiEndpoints).toBeDefined();
    // One NAT gateway is then no single point of failure for booting.
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });

  it('spans three named AZs with one NAT gateway each, and then does not warn', () => {
    // GIVEN three AZs and three NAT gateways
    const { stack } = build({
      availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      natGateways: 3,
    });
    // THEN
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::Subnet', 6);
    template.resourceCountIs('AWS::EC2::NatGateway', 3);
    template.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'eu-west-1c' });
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });

  it('looks up an existing VPC by id instead of creating one', () => {
    // GIVEN an existing VPC in an explicit environment
    const { stack, network } = build({ vpcId: 'vpc-0123456789abcdef0' }, ENV);
    // THEN no VPC resource, and the (dummy, until looked up) VPC has both subnet kinds
    Template.fromStack(stack).resourceCountIs('AWS::EC2::VPC', 0);
    expect(network.vpc.publicSubnets.length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['Public', /vpcId must have private subnets with egress in at least 2 AZs/],
    ['Private', /vpcId must have public subnets in at least 2 AZs/],
  ] as const)('rejects an existing VPC whose subnets are all %s', (type, message) => {
    // GIVEN the lookup's answer: a VPC with subnets of one type only
    const subnet = (az: string, n: number) => ({
      subnetId: `subnet-00000000000000${n}a1`,
      cidr: `10.0.${n}.0/24`,
      availabilityZone: az,
      routeTableId: `rtb-00000000000000${n}a1`,
    });
    const answer = {
      vpcId: 'vpc-0123456789abcdef0',
      vpcCidrBlock: '10.0.0.0/16',
      availabilityZones: [],
      subnetGroups: [{ name: type, type, subnets: [subnet('eu-west-1a', 1), subnet('eu-west-1b', 2)] }],
    };
    const app = testApp({ context: { [lookupContextKey('vpc-0123456789abcdef0')]: answer } });
    const stack = new Stack(app, 'Test', { env: ENV });
    // WHEN / THEN
    expect(() => new Network(stack, 'Network', { vpcId: 'vpc-0123456789abcdef0' })).toThrow(message);
  });

  it.each<[string, NetworkProps, RegExp]>([
    ['a malformed VPC id', { vpcId: 'vpc-123' }, /vpcId must be a VPC id/],
    ['a malformed CIDR', { cidr: '10.40.0.0' }, /cidr must be an IPv4 CIDR block/],
    [
      'a CIDR prefix outside /16-/28',
      { cidr: '10.0.0.0/8' },
      /cidr must have a prefix length from \/16 to \/28 \(got \/8\)/,
    ],
    ['one AZ', { availabilityZones: ['eu-west-1a'] }, /availabilityZones must name 2 or 3 AZs \(got 1\)/],
    [
      'a repeated AZ',
      { availabilityZones: ['eu-west-1a', 'eu-west-1a'] },
      /availabilityZones must not repeat an AZ/,
    ],
    [
      'a malformed AZ name',
      { availabilityZones: ['eu-west-1a', 'west'] },
      /availabilityZones must be AZ names/,
    ],
    ['no NAT gateway', { natGateways: 0 }, /natGateways must be an integer from 1 to 2/],
    [
      'more NAT gateways than AZs',
      { natGateways: 3 },
      /natGateways must be an integer from 1 to 2 \(got 3\)/,
    ],
    ['a subnet mask out of range', { subnetCidrMask: 30 }, /subnetCidrMask must be an integer from 16 to 28/],
    [
      'subnets that cannot hold the AZs',
      { cidr: '10.40.0.0/24', subnetCidrMask: 25 },
      /subnetCidrMask \/25 leaves room for 2 subnets in a \/24 VPC, but 2 AZs need 4/,
    ],
    [
      'a subnet as large as the VPC',
      { cidr: '10.40.0.0/24', subnetCidrMask: 24 },
      /leaves room for 0 subnets/,
    ],
  ])('rejects %s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  it('lists every problem in one error', () => {
    expect(() => build({ cidr: 'x', natGateways: 9, subnetCidrMask: 2 })).toThrow(
      /Invalid Network props:\n {2}- cidr .*\n {2}- natGateways .*\n {2}- subnetCidrMask/,
    );
  });
});

/** The context key under which the CLI stores a VPC lookup's answer. */
function lookupContextKey(vpcId: string): string {
  const { stack } = build({ vpcId }, ENV);
  const missing = (stack.node.root as App).synth().manifest.missing ?? [];
  const key = missing.find((m) => m.provider === 'vpc-provider')?.key;
  if (!key) throw new Error('no VPC lookup recorded');
  return key;
}
