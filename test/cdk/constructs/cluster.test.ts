import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RtcHaCluster, RtcHaClusterProps } from '../../../constructs';
import { testApp } from '../support/app';

const ENV = { account: '111122223333', region: 'eu-west-1' };
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201';
const PUBLIC_SUBNETS = ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'];
const PRIVATE_SUBNETS = ['subnet-0bbbbbbbbbbbbbbb1', 'subnet-0bbbbbbbbbbbbbbb2'];

/** A platform team's stack: its own VPC, imported by attributes (no lookup), and the cluster in it. */
function platformStack(props: Omit<RtcHaClusterProps, 'vpc'> = {}): {
  app: App;
  stack: Stack;
  vpc: ec2.IVpc;
  cluster: RtcHaCluster;
} {
  const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Platform', { env: ENV });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'SharedVpc', {
    vpcId: 'vpc-0123456789abcdef0',
    vpcCidrBlock: '10.0.0.0/16',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    publicSubnetIds: PUBLIC_SUBNETS,
    privateSubnetIds: PRIVATE_SUBNETS,
  });
  return { app, stack, vpc, cluster: new RtcHaCluster(stack, 'Rtc', { ...props, vpc }) };
}

describe('RtcHaCluster in a stack of its own with an existing VPC', () => {
  let built: ReturnType<typeof platformStack>;
  let template: Template;
  beforeAll(() => {
    // GIVEN a plain stack and an imported VPC  WHEN the cluster is added and the app synthesized
    built = platformStack({ masters: { minCapacity: 3 }, alarms: { email: 'oncall@example.org' } });
    built.app.synth();
    template = Template.fromStack(built.stack);
  });

  it('creates no network of its own', () => {
    // THEN
    expect(built.cluster.network).toBeUndefined();
    expect(built.cluster.vpc).toBe(built.vpc);
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::NatGateway', 'AWS::EC2::FlowLog']) {
      template.resourceCountIs(type, 0);
    }
  });

  it('puts the masters, the registry and the watchdog in the private subnets', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '3',
      VPCZoneIdentifier: PRIVATE_SUBNETS,
    });
    template.hasResourceProperties('AWS::ElastiCache::SubnetGroup', { SubnetIds: PRIVATE_SUBNETS });
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: Match.objectLike({ SubnetIds: PRIVATE_SUBNETS }),
    });
  });

  it('puts the media nodes and the load balancer in the public subnets', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '2',
      VPCZoneIdentifier: PUBLIC_SUBNETS,
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Subnets: PUBLIC_SUBNETS,
    });
  });

  it('names the session store after the hosting stack and wires every part', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      ReplicationGroupId: 'platform-sessions',
    });
    template.resourceCountIs('AWS::SecretsManager::Secret', 4);
    template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'oncall@example.org' });
    expect(built.cluster.masterFleet.targetGroup).toBe(built.cluster.loadBalancer.targetGroup);
    expect(built.cluster.watchdog).toBeDefined();
  });

  it('encrypts every log group and every secret it makes with customer managed keys of its own', () => {
    const keyOf = (id: string) => ({ 'Fn::GetAtt': [expect.stringMatching(`^Rtc${id}`), 'Arn'] });
    for (const group of Object.values(template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.KmsKeyId).toEqual(keyOf('LogsKey'));
      expect(group.Properties.RetentionInDays).toBeGreaterThanOrEqual(365);
    }
    for (const secret of Object.values(template.findResources('AWS::SecretsManager::Secret'))) {
      expect(secret.Properties.KmsKeyId).toEqual(keyOf('SecretsKey'));
    }
    template.resourcePropertiesCountIs('AWS::KMS::Key', { EnableKeyRotation: true }, 3);
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'GrantsOnlyForAwsResources',
            Effect: 'Deny',
            Action: 'kms:CreateGrant',
            Condition: {
              BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
            },
          }),
          Match.objectLike({ Sid: 'CloudWatchLogsLogGroups' }),
        ]),
      },
    });
  });

  it('adds no output and leaves the stack its own description', () => {
    expect(template.findOutputs('*')).toEqual({});
    expect(template.toJSON().Description).toBeUndefined();
  });

  it('carries its cdk-nag acknowledgements with it: no AwsSolutions violation in the host app', () => {
    expect(new AwsSolutionsChecks(built.app).validateScope(built.app).violations).toEqual([]);
  });
});

describe('RtcHaCluster props', () => {
  it('leaves the watchdog out when disabled', () => {
    const { stack, cluster } = platformStack({ watchdog: { enabled: false } });
    expect(cluster.watchdog).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Events::Rule', 0);
  });

  it('gives the watchdog the nodes’ registry key prefix', () => {
    const { stack } = platformStack({ runtime: { keyPrefix: 'rtc-platform' } });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ RTC_KEY_PREFIX: 'rtc-platform' }) },
    });
  });

  it('refuses network options next to a VPC, naming the prop', () => {
    expect(() => platformStack({ network: { natGateways: 2 } })).toThrow(
      /Invalid RtcHaCluster props:\n {2}- network must be left out with vpc/,
    );
  });

  it('refuses plain HTTP in production unless allowed, naming the fields', () => {
    expect(() => platformStack({ production: true })).toThrow(
      /Invalid RtcHaCluster props:\n {2}- loadBalancer.certificateArn is required while allowPlainHttp is false/,
    );
    const { cluster } = platformStack({ production: true, loadBalancer: { allowPlainHttp: true } });
    expect(cluster.loadBalancer.restUrl).toMatch(/^http:\/\//);
  });

  it('takes a hosted zone for HTTPS in production: a certificate validated there, and an alias record', () => {
    const { stack, cluster } = platformStack({
      production: true,
      loadBalancer: { hostedZone: { id: 'Z0123456789ABCDEFGHIJ', name: 'example.org', recordName: 'rtc' } },
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CertificateManager::Certificate', 1);
    template.resourceCountIs('AWS::Route53::RecordSet', 1);
    expect(cluster.loadBalancer.signalingUrl).toBe('wss://rtc.example.org');
  });

  it('refuses production access logs in a stack without a region, naming the way out', () => {
    const stack = new Stack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Agnostic');
    expect(
      () =>
        new RtcHaCluster(stack, 'Rtc', {
          production: true,
          loadBalancer: { certificateArn: CERTIFICATE_ARN, domainName: 'rtc.example.org' },
        }),
    ).toThrow(/accessLogs needs a stack with an explicit region/);
  });

  it('turns on access logs, deletion protection and the web ACL in production, but no endpoints in a VPC it was given', () => {
    const { stack, cluster } = platformStack({
      production: true,
      loadBalancer: { certificateArn: CERTIFICATE_ARN, domainName: 'rtc.example.org' },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'deletion_protection.enabled', Value: 'true' }]),
    });
    expect(cluster.loadBalancer.accessLogsBucket).toBeDefined();
    expect(cluster.loadBalancer.webAcl).toBeDefined();
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  it('creates the AWS API endpoints in a production VPC of its own', () => {
    const stack = new Stack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Own', { env: ENV });
    const cluster = new RtcHaCluster(stack, 'Rtc', {
      production: true,
      loadBalancer: { certificateArn: CERTIFICATE_ARN, domainName: 'rtc.example.org' },
    });
    expect(Object.keys(cluster.network?.apiEndpoints?.endpoints ?? {})).toHaveLength(9);
    // Open to the whole VPC, image build instances included: private DNS sends every caller there.
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('ApiEndpoints/Ssm'),
      SecurityGroupIngress: [Match.objectLike({ CidrIp: '10.40.0.0/16', FromPort: 443, ToPort: 443 })],
    });
  });

  it('creates its own VPC when given none', () => {
    const stack = new Stack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Own');
    const cluster = new RtcHaCluster(stack, 'Rtc');
    expect(cluster.network?.vpc).toBe(cluster.vpc);
    Template.fromStack(stack).resourceCountIs('AWS::EC2::VPC', 1);
  });
});
