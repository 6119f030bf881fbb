import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { addRtcHa, RtcHaApp } from '../../../lib/app';
import { RtcHaConfig, validateConfig } from '../../../lib/config';
import { PROJECT_ROOT, testApp } from '../support/app';

/** A whole-app synth with both validation plugins takes 10-20 s on 2 busy cores. */
const SYNTH_TIMEOUT_MS = 120_000;
const PRODUCTION = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'examples/production.json'), 'utf8'));

interface Synthesized extends RtcHaApp {
  readonly app: App;
  readonly assembly: cxapi.CloudAssembly;
  readonly template: Template;
  /** Findings of the CloudFormation validation plugin that were not acknowledged. */
  readonly cfnFindings: { ruleName: string; severity: string; description: string }[];
}

/**
 * Synthesizes the whole app once, as `cdk synth` does: cdk.json's feature flags (which make the
 * CloudFormation validation plugin's errors fail synth), the plugin itself, and the cdk-nag pack
 * (whose violations fail synth too).
 */
function synthesize(config: RtcHaConfig): Synthesized {
  const app = testApp({ validation: true });
  const built = addRtcHa(app, config);
  const assembly = app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
  const cfn = report.pluginReports.find(
    (r: { pluginName: string }) => r.pluginName === 'CloudFormation Validate',
  );
  return {
    ...built,
    app,
    assembly,
    template: Template.fromJSON(assembly.getStackByName(built.stack.stackName).template),
    cfnFindings: cfn?.violations ?? [],
  };
}

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
                  Tags: [{ Key: 'Name', Value: `RtcHa/${id}/LaunchTemplate` }],
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
    const { stack } = s;
    expect(stack.watchdog).toBeDefined();
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
    expect(stack.vpc).toBe(stack.network.vpc);
    expect(stack.sessionStore.connections.defaultPort?.toString()).toBe('6380');
    expect(stack.sessionStore.authToken).toBeDefined();
    expect(stack.masterFleet.autoScalingGroup).toBeDefined();
    expect(stack.masterFleet.connections.defaultPort?.toString()).toBe('8080');
    expect(stack.mediaFleet.connections.defaultPort?.toString()).toBe('9090');
    expect(stack.masterFleet.targetGroup).toBe(stack.loadBalancer.targetGroup);
    expect(stack.sessionStore.replicationGroupId).toBe('rtcha-sessions');
    expect(stack.resolve(stack.sessionStore.endpointAddress)).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^SessionStore/), 'PrimaryEndPoint.Address'],
    });
    expect(stack.alarms.topic).toBeDefined();
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
      ['/RtcHa/Network', expect.stringMatching(/^1 NAT gateway\(s\) for 2 AZs/)],
      ['/RtcHa/LoadBalancer', expect.stringMatching(/^No certificateArn/)],
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

  it('matches the snapshot (asset hashes masked)', () => {
    expect(s.template.toJSON()).toMatchSnapshot();
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
});

describe('ClusterStack watchdog options', () => {
  const build = (raw: unknown) => addRtcHa(testApp(), validateConfig(raw)).stack;

  it("warns, from the fleets' minimum capacities, that two masters can never be replaced under the majority rail", () => {
    const stack = build({ masters: { minCapacity: 2 } });
    Annotations.fromStack(stack).hasWarning(
      '/RtcHa/Watchdog',
      Match.stringLikeRegexp('With 2 masters the watchdog never flags a dead one'),
    );
  });

  it('does not warn with three masters and the default media fleet', () => {
    Annotations.fromStack(build({})).hasNoWarning('*', Match.stringLikeRegexp('watchdog never flags'));
  });

  it('warns about a media fleet that could never lose a node at its minimum', () => {
    const stack = build({ media: { minCapacity: 1, spareCapacity: 0 } });
    Annotations.fromStack(stack).hasWarning(
      '/RtcHa/Watchdog',
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
    expect(stack.watchdog).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Events::Rule', 0);
  });
});

describe('ClusterStack fleet options', () => {
  const build = (raw: unknown) => addRtcHa(testApp(), validateConfig(raw)).stack;

  it("keeps each fleet's logs as long as configured", () => {
    const stack = build({ masters: { logRetentionDays: 90 }, media: { logRetentionDays: 7 } });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});
