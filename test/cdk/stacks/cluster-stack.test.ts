import * as fs from 'node:fs';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { ControlTowerControl } from '../../../constructs/shared/controls';
import { addRtcHa } from '../../../lib/app';
import { RtcHaConfig, validateConfig } from '../../../lib/config';
import { ClusterStack } from '../../../lib/stacks/cluster-stack';
import { PROJECT_ROOT, testApp, withPolicyResourcesSorted } from '../support/app';
import { acknowledgedControls, Synthesized, synthesize } from '../support/synth';

/** A whole-app synth with both validation plugins takes 10-20 s on 2 busy cores. */
const SYNTH_TIMEOUT_MS = 120_000;
const PRODUCTION = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'examples/production.json'), 'utf8'));

/** The controls every configuration sets aside, by the design's choice (docs/security.md). */
const DESIGN_EXCEPTIONS: Partial<Record<ControlTowerControl, unknown[]>> = {
  // EC2, not ELB, health checks: the load balancer never decides replacement (rule 2).
  'CT.AUTOSCALING.PR.4': [expect.stringMatching(/^MastersASG/)],
  // Media nodes take WebRTC media from any address on Janus's UDP range, at their own public IPv4.
  'CT.EC2.PR.3': [expect.stringMatching(/^MediaSecurityGroup/)],
  'CT.EC2.PR.9': [expect.stringMatching(/^MediaLaunchTemplate/)],
  // CDK's handler that strips the VPC's default security group.
  'CT.LAMBDA.PR.3': [expect.stringMatching(/^CustomVpcRestrictDefaultSG/)],
};

/**
 * How often each cdk-nag rule fires on an app built while acknowledgements are ignored, next to how
 * often the constructs acknowledge it: equal counts mean no acknowledgement hides nothing.
 */
function nagFindingsAndAcknowledgements(config: RtcHaConfig): { found: Counts; acknowledged: Counts } {
  const acknowledged: Counts = {};
  const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation((...rules) => {
    for (const { id } of rules)
      if (id.startsWith('AwsSolutions-')) acknowledged[id] = (acknowledged[id] ?? 0) + 1;
  });
  try {
    const app = testApp();
    const { nag } = addRtcHa(app, config);
    const found: Counts = {};
    for (const v of nag.validateScope(app).violations) found[v.ruleName] = v.violatingResources.length;
    return { found, acknowledged };
  } finally {
    spy.mockRestore();
  }
}

type Counts = Record<string, number>;

/**
 * The stateful resources of the default configuration as ClusterStack built them before RtcHaCluster
 * existed (the snapshot of commit 8bca132): data, secret values and the VPC. Another logical id would
 * make CloudFormation replace the resource on the next deploy, losing what it holds.
 */
const STATEFUL_LOGICAL_IDS: Record<string, string> = {
  Network6E62CE96: 'AWS::EC2::VPC',
  SessionStore8C86EEFE: 'AWS::ElastiCache::ReplicationGroup',
  SessionStoreSubnetGroup65241E10: 'AWS::ElastiCache::SubnetGroup',
  SessionStoreParameters0122CBAC: 'AWS::ElastiCache::ParameterGroup',
  SessionStoreAuthToken573BADD6: 'AWS::SecretsManager::Secret',
  ApiSecret852BEBBB: 'AWS::SecretsManager::Secret',
  MediaControlSecret708C6439: 'AWS::SecretsManager::Secret',
  TurnSecret5A1B1E51: 'AWS::SecretsManager::Secret',
  NetworkFlowLogGroup4F8CEEEF: 'AWS::Logs::LogGroup',
  MastersLogs84A237FC: 'AWS::Logs::LogGroup',
  MediaLogsB618F8D7: 'AWS::Logs::LogGroup',
  WatchdogLogs0E38844B: 'AWS::Logs::LogGroup',
};

/** The logical ids and types of the template's resources of the types in {@link STATEFUL_LOGICAL_IDS}. */
function statefulResources(template: Template): Record<string, string> {
  const types = new Set(Object.values(STATEFUL_LOGICAL_IDS));
  return Object.fromEntries(
    Object.entries(template.toJSON().Resources as Record<string, { Type: string }>)
      .filter(([, r]) => types.has(r.Type))
      .map(([id, r]) => [id, r.Type]),
  );
}

/** The synth warnings of the stack, as [construct path, message], read from the cloud assembly. */
function warningsOf(s: Synthesized): [string, unknown][] {
  return s.assembly
    .getStackByName(s.stack.stackName)
    .messages.filter((m) => m.level === 'warning')
    .map((m) => [m.id, m.entry.data]);
}

describe('ClusterStack with the default configuration', () => {
  let s: Synthesized;
  beforeAll(() => {
    // GIVEN the default configuration  WHEN the app is synthesized
    s = synthesize(validateConfig({}));
  }, SYNTH_TIMEOUT_MS);

  it('synthesizes offline: environment-agnostic, no context lookup', () => {
    // THEN
    const artifact = s.assembly.getStackByName('RtcHa');
    expect(artifact.environment).toMatchObject({ account: 'unknown-account', region: 'unknown-region' });
    expect(s.assembly.manifest.missing).toBeUndefined();
    // Each fleet boots its own baked image, built on a pinned (dated) Debian 12 release, never "latest".
    const recipes = Object.values(s.template.findResources('AWS::ImageBuilder::ImageRecipe'));
    expect(recipes).toHaveLength(2);
    for (const recipe of recipes) {
      expect(JSON.stringify(recipe.Properties.ParentImage)).toMatch(
        /\/aws\/service\/debian\/release\/12\/\d{8}-\d+\/arm64/,
      );
    }
    expect(JSON.stringify(s.template.toJSON())).not.toContain('debian/release/12/latest');
    for (const lt of Object.values(s.template.findResources('AWS::EC2::LaunchTemplate'))) {
      expect(lt.Properties.LaunchTemplateData.ImageId).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/^(Masters|Media)Image/), 'ImageId'],
      });
    }
  });

  it('builds the whole cluster', () => {
    for (const [type, count] of [
      ['AWS::EC2::VPC', 1],
      ['AWS::EC2::NatGateway', 1],
      ['AWS::ElastiCache::ReplicationGroup', 1],
      ['AWS::ElasticLoadBalancingV2::LoadBalancer', 1],
      ['AWS::ElasticLoadBalancingV2::TargetGroup', 1],
      ['AWS::AutoScaling::AutoScalingGroup', 2],
      ['AWS::EC2::LaunchTemplate', 2],
      // The API secret, the media control secret, TURN's secret, the registry's AUTH token.
      ['AWS::SecretsManager::Secret', 4],
      ['AWS::SSM::Parameter', 2],
      ['AWS::AutoScaling::LifecycleHook', 2],
      // The fleets', the watchdog's and the VPC flow logs'.
      ['AWS::Logs::LogGroup', 4],
      ['AWS::SNS::Topic', 1],
      ['AWS::CloudWatch::Dashboard', 1],
    ] as const) {
      s.template.resourceCountIs(type, count);
    }
  });

  it('lets only the masters, the media nodes and the watchdog into the session store', () => {
    const sources = Object.values(s.template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((p) => JSON.stringify(p.GroupId).includes('SessionStoreSecurityGroup'))
      .map((p) => [p.FromPort, p.SourceSecurityGroupId['Fn::GetAtt'][0]]);
    expect(sources).toEqual([
      [6380, expect.stringMatching(/^MastersSecurityGroup/)],
      [6380, expect.stringMatching(/^MediaSecurityGroup/)],
      [6380, expect.stringMatching(/^WatchdogSecurityGroup/)],
    ]);
  });

  it('lets the masters reach the media control port', () => {
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 9090,
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MediaSecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MastersSecurityGroup'), 'GroupId'] },
    });
  });

  it('gives both fleets the same registry and drain deadline, and the API secret to the masters only', () => {
    const settings = Object.values(s.template.findResources('AWS::SSM::Parameter')).map((p) =>
      JSON.stringify(p.Properties.Value),
    );
    expect(settings).toHaveLength(2);
    for (const value of settings) {
      expect(value).toContain('RTC_DRAIN_DEADLINE_MS=30000');
      expect(value).toContain('RTC_REDIS_URL=rediss://');
      expect(value).toContain('RTC_LIFECYCLE_HOOK_NAME=rtc-ha-drain');
    }
    const userData = (id: string) =>
      JSON.stringify(
        s.template.findResources('AWS::EC2::LaunchTemplate', {
          Properties: {
            LaunchTemplateData: {
              TagSpecifications: Match.arrayWith([
                Match.objectLike({
                  ResourceType: 'instance',
                  Tags: [{ Key: 'Name', Value: `RtcHa/Default/${id}/LaunchTemplate` }],
                }),
              ]),
            },
          },
        }),
      );
    expect(userData('Masters')).toMatch(/RTC_API_SECRET=",\{"Ref":"ApiSecret[0-9A-F]+"\}/);
    expect(userData('Media')).not.toContain('RTC_API_SECRET');
    expect(userData('Media')).toContain('RTC_REDIS_AUTH_TOKEN=');
  });

  it('lets a leaving master drain while the load balancer deregisters it, then holds it in the hook', () => {
    // Auto Scaling deregisters before the termination hook: the sockets must outlast the drain (30 s + 30 s).
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '60' }]),
    });
    for (const hook of Object.values(s.template.findResources('AWS::AutoScaling::LifecycleHook'))) {
      expect(hook.Properties).toMatchObject({
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 60,
        DefaultResult: 'CONTINUE',
      });
    }
  });

  it('wires the watchdog to both fleets, the target group and the registry (docs/architecture.md rule 2)', () => {
    const stack = s.stack as ClusterStack;
    expect(stack.cluster.watchdog).toBeDefined();
    const groups = JSON.stringify(
      s.template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('watchdog') },
      }),
    );
    for (const ref of ['MastersASG', 'MediaASG', 'LoadBalancerTargets', 'SessionStoreAuthToken']) {
      expect(groups).toContain(ref);
    }
    // Only the watchdog marks instances Unhealthy: the groups themselves never use ELB health checks.
    for (const asg of Object.values(s.template.findResources('AWS::AutoScaling::AutoScalingGroup'))) {
      expect(asg.Properties.HealthCheckType).toBe('EC2');
    }
    s.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    expect(stack.cluster.vpc).toBe(stack.cluster.network?.vpc);
    expect(stack.cluster.sessionStore.connections.defaultPort?.toString()).toBe('6380');
    expect(stack.cluster.sessionStore.authToken).toBeDefined();
    expect(stack.cluster.masterFleet.autoScalingGroup).toBeDefined();
    expect(stack.cluster.masterFleet.connections.defaultPort?.toString()).toBe('8080');
    expect(stack.cluster.mediaFleet.connections.defaultPort?.toString()).toBe('9090');
    expect(stack.cluster.masterFleet.targetGroup).toBe(stack.cluster.loadBalancer.targetGroup);
    expect(stack.cluster.sessionStore.replicationGroupId).toBe('rtcha-sessions');
    expect(stack.resolve(stack.cluster.sessionStore.endpointAddress)).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^SessionStore/), 'PrimaryEndPoint.Address'],
    });
    expect(stack.cluster.alarms.topic).toBeDefined();
  });

  it('outputs the URLs, secret ARNs, group names and the registry endpoint', () => {
    expect(Object.keys(s.template.findOutputs('*')).sort()).toEqual([
      'AlarmTopicArn',
      'ApiSecretArn',
      'LoadBalancerDnsName',
      'MasterAutoScalingGroupName',
      'MasterLogGroupName',
      'MediaAutoScalingGroupName',
      'MediaControlSecretArn',
      'MediaLogGroupName',
      'RestUrl',
      'SessionStoreAuthTokenArn',
      'SessionStoreEndpoint',
      'SignalingUrl',
      'TurnSecretArn',
      'WatchdogFunctionName',
    ]);
    s.template.hasOutput('SignalingUrl', {
      Value: {
        'Fn::Join': ['', ['ws://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^LoadBalancer'), 'DNSName'] }]],
      },
    });
  });

  it('warns about the two things a production deployment should change', () => {
    expect(warningsOf(s)).toEqual([
      ['/RtcHa/Default/Network', expect.stringMatching(/^1 NAT gateway\(s\) for 2 AZs/)],
      ['/RtcHa/Default/LoadBalancer', expect.stringMatching(/^No certificateArn/)],
    ]);
  });

  it('leaves no cdk-nag AwsSolutions violation', () => {
    expect(s.nag.validateScope(s.app).violations).toEqual([]);
  });

  it('acknowledges only cdk-nag findings that exist, once per resource', () => {
    const { found, acknowledged } = nagFindingsAndAcknowledgements(validateConfig({}));
    expect(acknowledged).toEqual(found);
    expect(Object.keys(found).sort()).toEqual([
      'AwsSolutions-EC23',
      // Both groups: cdk-nag cannot read a MixedInstancesPolicy (CT.EC2.PR.14 checks the volumes instead).
      'AwsSolutions-EC26',
      'AwsSolutions-ELB2',
      // The image build instances only: Image Builder's managed policies.
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/EC2InstanceProfileForImageBuilder]',
      'AwsSolutions-IAM5[Resource::*]',
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:.*autoScalingGroupName\/<MastersASG/),
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:.*autoScalingGroupName\/<MediaASG/),
      'AwsSolutions-SMG4',
    ]);
  });

  it('has no CloudFormation validation finding, error or warning', () => {
    expect(s.cfnFindings).toEqual([]);
  });

  it("passes AWS Control Tower's proactive controls: no finding left unacknowledged", () => {
    expect(s.controls.violations).toEqual([]);
  });

  it('sets aside only the design exceptions and the development defaults, each with its reason', () => {
    const lb = expect.stringMatching(/^LoadBalancer[0-9A-F]{8}$/);
    expect(acknowledgedControls(s)).toEqual({
      ...DESIGN_EXCEPTIONS,
      // No certificate: nothing to redirect to.
      'CT.ELASTICLOADBALANCING.PR.1': [expect.stringMatching(/^LoadBalancerHttp/)],
      // No deletion protection and no access logs (they need a region) in a development cluster.
      'CT.ELASTICLOADBALANCING.PR.5': [lb],
      'CT.ELASTICLOADBALANCING.PR.6': [lb],
    });
  });

  it('stays well inside the CloudFormation template limits', () => {
    const template = s.template.toJSON();
    expect(Object.keys(template.Resources).length).toBeLessThanOrEqual(500);
    expect(Object.keys(template.Outputs).length).toBeLessThanOrEqual(200);
    expect(Object.keys(template.Parameters).length).toBeLessThanOrEqual(200);
    // 1 MB is the limit for a template uploaded through S3, as cdk deploy does.
    expect(JSON.stringify(template).length).toBeLessThanOrEqual(1_000_000);
    // Each user data stays under EC2's 16 KB.
    for (const lt of Object.values(s.template.findResources('AWS::EC2::LaunchTemplate'))) {
      expect(JSON.stringify(lt.Properties.LaunchTemplateData.UserData).length).toBeLessThan(16_384);
    }
  });

  it('keeps the logical ids of every stateful resource the stack had before RtcHaCluster', () => {
    expect(statefulResources(s.template)).toEqual(STATEFUL_LOGICAL_IDS);
  });

  it('matches the snapshot (asset hashes masked)', () => {
    expect(withPolicyResourcesSorted(s.template.toJSON())).toMatchSnapshot();
  });
});

describe('ClusterStack with examples/production.json', () => {
  let s: Synthesized;
  beforeAll(() => {
    // GIVEN the production example  WHEN the app is synthesized
    s = synthesize(validateConfig(PRODUCTION));
  }, SYNTH_TIMEOUT_MS);

  it('is regional but still needs no context lookup', () => {
    // THEN
    expect(s.assembly.getStackByName('RtcHaProd').environment.region).toBe('eu-west-1');
    expect(s.assembly.manifest.missing).toBeUndefined();
  });

  it('drains masters for the configured deadline: deregistration delay and hook timeout follow it', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
    s.template.resourcePropertiesCountIs('AWS::AutoScaling::LifecycleHook', { HeartbeatTimeout: 90 }, 2);
  });

  it('spans three AZs with a NAT gateway each', () => {
    s.template.resourceCountIs('AWS::EC2::Subnet', 6);
    s.template.resourceCountIs('AWS::EC2::NatGateway', 3);
  });

  it('serves HTTPS with the certificate, redirects HTTP and logs access', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
    });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect' })],
    });
    s.template.resourceCountIs('AWS::S3::Bucket', 1);
    s.template.hasOutput('SignalingUrl', { Value: 'wss://rtc.example.com' });
  });

  it('turns on what production asks for: deletion protection, a rate-limiting web ACL, AWS API endpoints', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'deletion_protection.enabled', Value: 'true' }]),
    });
    s.template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Statement: {
            RateBasedStatement: { AggregateKeyType: 'IP', Limit: 2000, EvaluationWindowSec: 300 },
          },
          Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
        }),
      ],
    });
    s.template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: { Ref: Match.stringLikeRegexp('^LoadBalancer[0-9A-F]{8}$') },
    });
    // Booting and self-healing reach their AWS APIs in every AZ without a NAT gateway.
    const endpoints = Object.values(s.template.findResources('AWS::EC2::VPCEndpoint')).map(
      (e) => e.Properties,
    );
    expect(endpoints).toHaveLength(9);
    for (const endpoint of endpoints) {
      expect(endpoint).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
      expect(endpoint.SubnetIds).toHaveLength(3);
    }
  });

  it('runs three masters, a larger media fleet and a store with two replicas', () => {
    s.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '3', MaxSize: '6' });
    s.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '6', MaxSize: '20' });
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { NumCacheClusters: 3 });
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'rtc-oncall@example.com' });
  });

  it('does not warn', () => {
    expect(warningsOf(s)).toEqual([]);
  });

  it('leaves no cdk-nag violation and acknowledges only findings that exist', () => {
    expect(s.nag.validateScope(s.app).violations).toEqual([]);
    const { found, acknowledged } = nagFindingsAndAcknowledgements(validateConfig(PRODUCTION));
    expect(acknowledged).toEqual(found);
  });

  it('has no CloudFormation validation finding, error or warning', () => {
    expect(s.cfnFindings).toEqual([]);
  });

  it("passes AWS Control Tower's proactive controls: no finding left unacknowledged", () => {
    expect(s.controls.violations).toEqual([]);
  });

  it('sets aside only the design exceptions and what ELB access logs require of their bucket', () => {
    const bucket = [expect.stringMatching(/^LoadBalancerAccessLogs/)];
    expect(acknowledgedControls(s)).toEqual({
      ...DESIGN_EXCEPTIONS,
      'CT.S3.PR.2': bucket,
      'CT.S3.PR.9': bucket,
      'CT.S3.PR.10': bucket,
    });
  });
});

describe('ClusterStack in production', () => {
  const REGION = { region: 'eu-west-1' };

  it('refuses plain HTTP, and says how to fix it', () => {
    expect(() => validateConfig({ production: true, env: REGION })).toThrow(
      /loadBalancer.certificateArn is required while allowPlainHttp is false \(production turns it off\).*Set certificateArn and domainName, or hostedZone \(a certificate is then made\), or set allowPlainHttp to true/,
    );
  });

  it('serves plain HTTP when explicitly allowed, and still warns', () => {
    const config = validateConfig({ production: true, env: REGION, loadBalancer: { allowPlainHttp: true } });
    const { stack } = addRtcHa(testApp(), config);
    Annotations.fromStack(stack).hasWarning(
      '/RtcHa/Default/LoadBalancer',
      Match.stringLikeRegexp('^No certificateArn'),
    );
  });
});

describe('ClusterStack watchdog options', () => {
  const build = (raw: unknown) => addRtcHa(testApp(), validateConfig(raw)).stack as ClusterStack;

  it("warns, from the fleets' minimum capacities, that two masters can never be replaced under the majority rail", () => {
    const stack = build({ masters: { minCapacity: 2 } });
    Annotations.fromStack(stack).hasWarning(
      '/RtcHa/Default/Watchdog',
      Match.stringLikeRegexp('With 2 masters the watchdog never flags a dead one'),
    );
  });

  it('does not warn with three masters and the default media fleet', () => {
    Annotations.fromStack(build({})).hasNoWarning('*', Match.stringLikeRegexp('watchdog never flags'));
  });

  it('warns about a media fleet that could never lose a node at its minimum', () => {
    const stack = build({ media: { minCapacity: 1, spareCapacity: 0 } });
    Annotations.fromStack(stack).hasWarning(
      '/RtcHa/Default/Watchdog',
      Match.stringLikeRegexp('With 1 media nodes the watchdog never flags a dead one'),
    );
  });

  it('passes the configured policy and cycle to the function', () => {
    const stack = build({ watchdog: { cycleSeconds: 10, maxFlagsPerCycle: 2 } });
    const env = JSON.stringify(Template.fromStack(stack).findResources('AWS::Lambda::Function'));
    expect(env).toContain('"RTC_WATCHDOG_CYCLE_MS":"10000"');
    expect(env).toMatch(/maxFlagsPerCycle\\":2/);
  });

  it('leaves the watchdog out when disabled', () => {
    const stack = build({ watchdog: { enabled: false } });
    expect(stack.cluster.watchdog).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Events::Rule', 0);
  });
});

describe('ClusterStack fleet options', () => {
  const build = (raw: unknown) => addRtcHa(testApp(), validateConfig(raw)).stack as ClusterStack;

  it("keeps each fleet's logs as long as configured", () => {
    const stack = build({ masters: { logRetentionDays: 90 }, media: { logRetentionDays: 7 } });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});
