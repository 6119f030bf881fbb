import { Template } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { addRtcHa } from '../../../lib/app';
import { validateConfig } from '../../../lib/config';
import { ClusterStack } from '../../../lib/stacks/cluster-stack';
import { StandbyStack } from '../../../lib/stacks/standby-stack';
import type { Policy } from '../../../runtime/watchdog/core';
import { testApp } from '../support/app';
import { effectiveDefaults, fieldsOf, valueAt } from '../support/config';

/** Every field set to something other than its default (the variants below set the rest). */
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201';

const EVERY_FIELD = {
  stackName: 'RtcHaEvery',
  production: true,
  env: { account: '111122223333', region: 'eu-west-1' },
  network: {
    cidr: '10.50.0.0/16',
    availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    natGateways: 2,
    subnetCidrMask: 25,
    vpcEndpoints: true,
  },
  sessionStore: {
    engine: 'redis',
    engineVersion: '7.0',
    nodeType: 'cache.r7g.large',
    replicas: 2,
    port: 6390,
    snapshotRetentionDays: 3,
    snapshotWindow: '01:00-02:00',
    maintenanceWindow: 'mon:03:00-mon:04:00',
  },
  loadBalancer: {
    certificateArn: CERTIFICATE_ARN,
    domainName: 'rtc.example.org',
    idleTimeoutSeconds: 1800,
    accessLogs: true,
    deletionProtection: true,
    allowPlainHttp: false,
    waf: { enabled: true, rateLimit: 5000 },
    healthCheck: { intervalSeconds: 10, timeoutSeconds: 4, healthyThreshold: 3, unhealthyThreshold: 5 },
  },
  masters: {
    instanceTypes: ['m7g.large', 'c7g.large'],
    minCapacity: 7,
    desiredCapacity: 8,
    maxCapacity: 10,
    port: 8443,
    volumeSizeGiB: 20,
    logRetentionDays: 90,
    scaling: { targetCpuPercent: 45 },
  },
  media: {
    instanceTypes: ['c7gn.xlarge', 'c6gn.xlarge'],
    minCapacity: 4,
    spareCapacity: 2,
    desiredCapacity: 7,
    maxCapacity: 12,
    volumeSizeGiB: 32,
    logRetentionDays: 14,
    controlPort: 9191,
    mediaPortMin: 41000,
    mediaPortMax: 42000,
    turn: {
      port: 3479,
      tlsCertificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rtc-turn-tls-AbC123',
      tlsHostName: '{ip}.turn.example.org',
    },
    scaling: {
      mode: 'target-tracking',
      scaleOutLoadPercent: 80,
      scaleInLoadPercent: 20,
      targetLoadPercent: 60,
    },
  },
  runtime: { keyPrefix: 'rtc-every', drainDeadlineMs: 45000 },
  watchdog: {
    cycleSeconds: 10,
    maxFlagsPerCycle: 2,
    masterMinHealthyShare: 0.6,
    mediaMinHealthyShare: 0.5,
    holdAlarmMinutes: 5,
  },
  alarms: { email: 'oncall@example.org' },
};

/**
 * Fields whose non-default value hides others from the template (an existing VPC ignores the new VPC's
 * fields, step scaling ignores the target, a disabled watchdog its settings): each gets its own build.
 */
const VARIANTS = {
  every: EVERY_FIELD,
  step: {
    ...EVERY_FIELD,
    media: { ...EVERY_FIELD.media, scaling: { ...EVERY_FIELD.media.scaling, mode: 'step' } },
  },
  existingVpc: { ...EVERY_FIELD, network: { vpcId: 'vpc-0123456789abcdef0' } },
  noWatchdog: { ...EVERY_FIELD, watchdog: { enabled: false } },
  noTurn: { ...EVERY_FIELD, media: { ...EVERY_FIELD.media, turn: { enabled: false } } },
  hostedZone: {
    ...EVERY_FIELD,
    loadBalancer: {
      ...EVERY_FIELD.loadBalancer,
      certificateArn: undefined,
      domainName: undefined,
      hostedZone: { id: 'Z0123456789ABCDEFGHIJ', name: 'example.net', recordName: 'signal' },
    },
  },
  // What production turns on by default is on here by the fields themselves.
  development: { ...EVERY_FIELD, production: false },
  production: {
    production: true,
    env: { region: 'eu-west-1' },
    loadBalancer: { certificateArn: CERTIFICATE_ARN, domainName: 'rtc.example.org' },
  },
  plainHttp: { production: true, env: { region: 'eu-west-1' }, loadBalancer: { allowPlainHttp: true } },
  // The other topology: every field of its section.
  pair: {
    stackName: 'RtcHaPairEvery',
    topology: 'pair',
    production: true,
    env: { account: '111122223333', region: 'eu-west-1' },
    pair: {
      instanceType: 't4g.medium',
      failback: 'manual',
      preemptDelaySeconds: 30,
      privateAddresses: ['10.60.0.20', '10.60.1.20'],
      clientCidr: '198.51.100.0/24',
      logRetentionDays: 30,
      vpcCidr: '10.60.0.0/16',
      tls: {
        certificateSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rtc-pair-tls-AbC123',
        domainName: 'pair.example.org',
      },
    },
  },
};
type Variant = keyof typeof VARIANTS;

interface Built {
  readonly stack: ClusterStack | StandbyStack;
  readonly template: Template;
  readonly assembly: cxapi.CloudAssembly;
}

/** How the template shows one field: the variant that sets it, and the assertion. */
type Check = [Variant, (b: Built) => void];

/** A resource's properties, as the template has them (untyped JSON). */
type Properties = ReturnType<Template['findResources']>[string]['Properties'];

/** The properties of the one resource of `type` whose logical id starts with `prefix`. */
function props(b: Built, type: string, prefix: string): Properties {
  const found = Object.entries(b.template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  expect(found).toHaveLength(1);
  return found[0][1].Properties;
}

const text = (value: unknown) => JSON.stringify(value);
const masters = (b: Built) => props(b, 'AWS::AutoScaling::AutoScalingGroup', 'MastersASG');
const media = (b: Built) => props(b, 'AWS::AutoScaling::AutoScalingGroup', 'MediaASG');
const overrides = (group: Properties) =>
  (group.MixedInstancesPolicy.LaunchTemplate.Overrides as { InstanceType: string }[]).map(
    (o) => o.InstanceType,
  );
const launchTemplate = (b: Built, fleet: string) =>
  props(b, 'AWS::EC2::LaunchTemplate', `${fleet}LaunchTemplate`).LaunchTemplateData;
const settings = (b: Built, fleet: string) =>
  text(props(b, 'AWS::SSM::Parameter', `${fleet}RuntimeSettings`).Value);
const store = (b: Built) => props(b, 'AWS::ElastiCache::ReplicationGroup', 'SessionStore');
const targets = (b: Built) => props(b, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'LoadBalancerTargets');
const loadBalancerAttributes = (b: Built) =>
  props(b, 'AWS::ElasticLoadBalancingV2::LoadBalancer', 'LoadBalancer').LoadBalancerAttributes;
const watchdogEnvironment = (b: Built) =>
  props(b, 'AWS::Lambda::Function', 'Watchdog').Environment.Variables as Record<string, string>;
const watchdogPolicy = (b: Built): Policy => JSON.parse(watchdogEnvironment(b).RTC_WATCHDOG_POLICY);
const subnets = (b: Built) =>
  Object.values(b.template.findResources('AWS::EC2::Subnet')).map((s) => s.Properties);
const ingress = (b: Built, group: string) =>
  Object.values(b.template.findResources('AWS::EC2::SecurityGroupIngress'))
    .map((r) => r.Properties)
    .filter((p) => text(p.GroupId).includes(`${group}SecurityGroup`));
const inlineIngress = (b: Built, group: string) =>
  props(b, 'AWS::EC2::SecurityGroup', `${group}SecurityGroup`).SecurityGroupIngress as Record<
    string,
    unknown
  >[];
const logRetention = (b: Built, group: string) =>
  props(b, 'AWS::Logs::LogGroup', `${group}Logs`).RetentionInDays;

const pairSettings = (b: Built) => text(props(b, 'AWS::SSM::Parameter', 'PairSoftwareSettings').Value);
const pairInstances = (b: Built) =>
  Object.values(b.template.findResources('AWS::EC2::Instance')).map((i) => i.Properties);
const aliasRecord = (b: Built) => props(b, 'AWS::Route53::RecordSet', 'LoadBalancerAliasRecord');
const webAcls = (b: Built) => Object.values(b.template.findResources('AWS::WAFv2::WebACL'));
const endpointCount = (b: Built) => Object.keys(b.template.findResources('AWS::EC2::VPCEndpoint')).length;

const CHECKS: Record<string, Check> = {
  stackName: ['every', (b) => expect(b.stack.stackName).toBe('RtcHaEvery')],
  topology: [
    'pair',
    (b) => {
      expect(b.stack).toBeInstanceOf(StandbyStack);
      b.template.resourceCountIs('AWS::EC2::EIP', 1);
      b.template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 0);
    },
  ],
  'pair.instanceType': [
    'pair',
    (b) => expect(pairInstances(b).map((i) => i.InstanceType)).toEqual(['t4g.medium', 't4g.medium']),
  ],
  'pair.failback': ['pair', (b) => expect(pairSettings(b)).toContain('RTC_STANDBY_FAILBACK=manual')],
  'pair.preemptDelaySeconds': [
    'pair',
    (b) => expect(pairSettings(b)).toContain('RTC_STANDBY_PREEMPT_DELAY_S=30'),
  ],
  'pair.privateAddresses': [
    'pair',
    (b) =>
      expect(pairInstances(b).map((i) => i.NetworkInterfaces[0].PrivateIpAddress)).toEqual([
        '10.60.0.20',
        '10.60.1.20',
      ]),
  ],
  'pair.clientCidr': [
    'pair',
    (b) =>
      expect(inlineIngress(b, 'Pair')).toContainEqual(
        expect.objectContaining({ CidrIp: '198.51.100.0/24', IpProtocol: 'tcp', FromPort: 8443 }),
      ),
  ],
  'pair.logRetentionDays': ['pair', (b) => expect(logRetention(b, 'Pair')).toBe(30)],
  'pair.vpcCidr': ['pair', (b) => expect(props(b, 'AWS::EC2::VPC', 'Vpc').CidrBlock).toBe('10.60.0.0/16')],
  'pair.tls.certificateSecretArn': [
    'pair',
    (b) =>
      expect(text(pairInstances(b)[0].UserData)).toContain(
        `RTC_TLS_PEM=${VARIANTS.pair.pair.tls.certificateSecretArn}`,
      ),
  ],
  'pair.tls.domainName': [
    'pair',
    (b) => {
      b.template.hasOutput('SignalingUrl', { Value: 'wss://pair.example.org:8443/ws' });
      expect(pairSettings(b)).toContain('RTC_TURN_TLS_HOST=pair.example.org');
    },
  ],
  production: [
    'production',
    (b) => {
      expect(loadBalancerAttributes(b)).toContainEqual({ Key: 'deletion_protection.enabled', Value: 'true' });
      expect(loadBalancerAttributes(b)).toContainEqual({ Key: 'access_logs.s3.enabled', Value: 'true' });
      expect(webAcls(b)).toHaveLength(1);
      expect(endpointCount(b)).toBe(9);
    },
  ],
  'env.account': ['every', (b) => expect(b.stack.account).toBe('111122223333')],
  'env.region': ['every', (b) => expect(b.stack.region).toBe('eu-west-1')],
  'network.vpcId': [
    'existingVpc',
    (b) => expect(text(b.assembly.manifest.missing)).toContain('"vpc-id":"vpc-0123456789abcdef0"'),
  ],
  'network.cidr': [
    'every',
    (b) => expect(props(b, 'AWS::EC2::VPC', 'Network').CidrBlock).toBe('10.50.0.0/16'),
  ],
  'network.availabilityZones': [
    'every',
    (b) =>
      expect(new Set(subnets(b).map((s) => s.AvailabilityZone))).toEqual(
        new Set(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']),
      ),
  ],
  'network.natGateways': ['every', (b) => b.template.resourceCountIs('AWS::EC2::NatGateway', 2)],
  'network.vpcEndpoints': ['development', (b) => expect(endpointCount(b)).toBe(9)],
  'network.subnetCidrMask': [
    'every',
    (b) => expect(subnets(b).every((s) => s.CidrBlock.endsWith('/25'))).toBe(true),
  ],
  'sessionStore.engine': ['every', (b) => expect(store(b).Engine).toBe('redis')],
  'sessionStore.engineVersion': ['every', (b) => expect(store(b).EngineVersion).toBe('7.0')],
  'sessionStore.nodeType': ['every', (b) => expect(store(b).CacheNodeType).toBe('cache.r7g.large')],
  'sessionStore.replicas': ['every', (b) => expect(store(b).NumCacheClusters).toBe(3)],
  'sessionStore.port': [
    'every',
    (b) => {
      expect(store(b).Port).toBe(6390);
      expect(settings(b, 'Masters')).toContain(':6390');
    },
  ],
  'sessionStore.snapshotRetentionDays': ['every', (b) => expect(store(b).SnapshotRetentionLimit).toBe(3)],
  'sessionStore.snapshotWindow': ['every', (b) => expect(store(b).SnapshotWindow).toBe('01:00-02:00')],
  'sessionStore.maintenanceWindow': [
    'every',
    (b) => expect(store(b).PreferredMaintenanceWindow).toBe('mon:03:00-mon:04:00'),
  ],
  'loadBalancer.certificateArn': [
    'every',
    (b) =>
      expect(props(b, 'AWS::ElasticLoadBalancingV2::Listener', 'LoadBalancerHttps').Certificates).toEqual([
        { CertificateArn: EVERY_FIELD.loadBalancer.certificateArn },
      ]),
  ],
  'loadBalancer.domainName': [
    'every',
    (b) => b.template.hasOutput('SignalingUrl', { Value: 'wss://rtc.example.org' }),
  ],
  'loadBalancer.idleTimeoutSeconds': [
    'every',
    (b) =>
      expect(loadBalancerAttributes(b)).toContainEqual({
        Key: 'idle_timeout.timeout_seconds',
        Value: '1800',
      }),
  ],
  'loadBalancer.accessLogs': [
    'development',
    (b) => expect(loadBalancerAttributes(b)).toContainEqual({ Key: 'access_logs.s3.enabled', Value: 'true' }),
  ],
  'loadBalancer.allowPlainHttp': [
    'plainHttp',
    (b) =>
      expect(props(b, 'AWS::ElasticLoadBalancingV2::Listener', 'LoadBalancerHttp').DefaultActions).toEqual([
        expect.objectContaining({ Type: 'forward' }),
      ]),
  ],
  'loadBalancer.hostedZone.id': [
    'hostedZone',
    (b) => expect(aliasRecord(b).HostedZoneId).toBe('Z0123456789ABCDEFGHIJ'),
  ],
  'loadBalancer.hostedZone.name': [
    'hostedZone',
    (b) => expect(aliasRecord(b).Name).toBe('signal.example.net.'),
  ],
  'loadBalancer.hostedZone.recordName': [
    'hostedZone',
    (b) =>
      expect(props(b, 'AWS::CertificateManager::Certificate', 'LoadBalancerCertificate').DomainName).toBe(
        'signal.example.net',
      ),
  ],
  'loadBalancer.waf.enabled': ['development', (b) => expect(webAcls(b)).toHaveLength(1)],
  'loadBalancer.waf.rateLimit': [
    'every',
    (b) => expect(webAcls(b)[0].Properties.Rules[0].Statement.RateBasedStatement.Limit).toBe(5000),
  ],
  'loadBalancer.deletionProtection': [
    'development',
    (b) =>
      expect(loadBalancerAttributes(b)).toContainEqual({ Key: 'deletion_protection.enabled', Value: 'true' }),
  ],
  'loadBalancer.healthCheck.intervalSeconds': [
    'every',
    (b) => expect(targets(b).HealthCheckIntervalSeconds).toBe(10),
  ],
  'loadBalancer.healthCheck.timeoutSeconds': [
    'every',
    (b) => expect(targets(b).HealthCheckTimeoutSeconds).toBe(4),
  ],
  'loadBalancer.healthCheck.healthyThreshold': [
    'every',
    (b) => expect(targets(b).HealthyThresholdCount).toBe(3),
  ],
  'loadBalancer.healthCheck.unhealthyThreshold': [
    'every',
    (b) => expect(targets(b).UnhealthyThresholdCount).toBe(5),
  ],
  'masters.instanceTypes': [
    'every',
    (b) => expect(overrides(masters(b))).toEqual(['m7g.large', 'c7g.large']),
  ],
  'masters.minCapacity': ['every', (b) => expect(masters(b).MinSize).toBe('7')],
  'masters.desiredCapacity': ['every', (b) => expect(masters(b).DesiredCapacity).toBe('8')],
  'masters.maxCapacity': ['every', (b) => expect(masters(b).MaxSize).toBe('10')],
  'masters.port': [
    'every',
    (b) => {
      expect(targets(b).Port).toBe(8443);
      expect(settings(b, 'Masters')).toContain('RTC_PORT=8443');
      expect(ingress(b, 'Masters').map((p) => p.FromPort)).toEqual([8443, 8443]);
    },
  ],
  'masters.volumeSizeGiB': [
    'every',
    (b) => expect(launchTemplate(b, 'Masters').BlockDeviceMappings[0].Ebs.VolumeSize).toBe(20),
  ],
  'masters.logRetentionDays': ['every', (b) => expect(logRetention(b, 'Masters')).toBe(90)],
  'masters.scaling.targetCpuPercent': [
    'every',
    (b) =>
      expect(
        props(b, 'AWS::AutoScaling::ScalingPolicy', 'Masters').TargetTrackingConfiguration.TargetValue,
      ).toBe(45),
  ],
  'media.instanceTypes': [
    'every',
    (b) => expect(overrides(media(b))).toEqual(['c7gn.xlarge', 'c6gn.xlarge']),
  ],
  // The group's minimum is N+M: 4 + 2.
  'media.minCapacity': ['every', (b) => expect(media(b).MinSize).toBe('6')],
  'media.spareCapacity': ['every', (b) => expect(media(b).MinSize).toBe('6')],
  'media.desiredCapacity': ['every', (b) => expect(media(b).DesiredCapacity).toBe('7')],
  'media.maxCapacity': ['every', (b) => expect(media(b).MaxSize).toBe('12')],
  'media.volumeSizeGiB': [
    'every',
    (b) => expect(launchTemplate(b, 'Media').BlockDeviceMappings[0].Ebs.VolumeSize).toBe(32),
  ],
  'media.logRetentionDays': ['every', (b) => expect(logRetention(b, 'Media')).toBe(14)],
  'media.controlPort': [
    'every',
    (b) => {
      expect(settings(b, 'Media')).toContain('RTC_PORT=9191');
      expect(ingress(b, 'Media').map((p) => p.FromPort)).toEqual([9191, 9191]);
    },
  ],
  'media.mediaPortMin': [
    'every',
    (b) => {
      expect(settings(b, 'Media')).toContain('RTC_MEDIA_PORT_MIN=41000');
      expect(inlineIngress(b, 'Media')).toContainEqual(
        expect.objectContaining({ IpProtocol: 'udp', FromPort: 41000 }),
      );
    },
  ],
  'media.mediaPortMax': [
    'every',
    (b) => {
      expect(settings(b, 'Media')).toContain('RTC_MEDIA_PORT_MAX=42000');
      expect(inlineIngress(b, 'Media')).toContainEqual(
        expect.objectContaining({ IpProtocol: 'udp', ToPort: 42000 }),
      );
    },
  ],
  'media.turn.enabled': [
    'noTurn',
    (b) => {
      expect(inlineIngress(b, 'Media').filter((r) => r.FromPort === r.ToPort)).toEqual([]);
      expect(text(b.template.toJSON())).not.toContain('RTC_TURN_');
      expect((b.stack as ClusterStack).cluster.turnSecret).toBeUndefined();
    },
  ],
  'media.turn.port': [
    'every',
    (b) => {
      expect(inlineIngress(b, 'Media').filter((r) => r.FromPort === r.ToPort)).toEqual([
        expect.objectContaining({ IpProtocol: 'udp', FromPort: 3479 }),
        expect.objectContaining({ IpProtocol: 'tcp', FromPort: 3479 }),
      ]);
      expect(settings(b, 'Media')).toContain('RTC_TURN_PORT=3479');
      expect(settings(b, 'Masters')).toContain('RTC_TURN_PORT=3479');
    },
  ],
  'media.turn.tlsCertificateSecretArn': [
    'every',
    (b) =>
      expect(text(launchTemplate(b, 'Media').UserData)).toContain(
        `RTC_TURN_TLS_PEM=${EVERY_FIELD.media.turn.tlsCertificateSecretArn}`,
      ),
  ],
  'media.turn.tlsHostName': [
    'every',
    (b) => {
      expect(settings(b, 'Masters')).toContain('RTC_TURN_TLS_HOST={ip}.turn.example.org');
      expect(settings(b, 'Media')).not.toContain('RTC_TURN_TLS_HOST');
    },
  ],
  'media.scaling.mode': [
    'every',
    (b) =>
      expect(props(b, 'AWS::AutoScaling::ScalingPolicy', 'Media').PolicyType).toBe('TargetTrackingScaling'),
  ],
  'media.scaling.targetLoadPercent': [
    'every',
    (b) =>
      expect(
        props(b, 'AWS::AutoScaling::ScalingPolicy', 'Media').TargetTrackingConfiguration.TargetValue,
      ).toBe(60),
  ],
  'media.scaling.scaleOutLoadPercent': [
    'step',
    (b) => expect(props(b, 'AWS::CloudWatch::Alarm', 'MediaLoadScaleOutAlarm').Threshold).toBe(80),
  ],
  'media.scaling.scaleInLoadPercent': [
    'step',
    (b) => expect(props(b, 'AWS::CloudWatch::Alarm', 'MediaLoadScaleInAlarm').Threshold).toBe(20),
  ],
  'runtime.keyPrefix': [
    'every',
    (b) => {
      expect(settings(b, 'Masters')).toContain('RTC_KEY_PREFIX=rtc-every');
      expect(settings(b, 'Media')).toContain('RTC_KEY_PREFIX=rtc-every');
      expect(watchdogEnvironment(b).RTC_KEY_PREFIX).toBe('rtc-every');
    },
  ],
  'runtime.drainDeadlineMs': [
    'every',
    (b) => {
      expect(settings(b, 'Media')).toContain('RTC_DRAIN_DEADLINE_MS=45000');
      // 45 s and the 30 s margin: the hooks and the deregistration delay follow.
      b.template.resourcePropertiesCountIs('AWS::AutoScaling::LifecycleHook', { HeartbeatTimeout: 75 }, 2);
      expect(targets(b).TargetGroupAttributes).toContainEqual({
        Key: 'deregistration_delay.timeout_seconds',
        Value: '75',
      });
    },
  ],
  'watchdog.enabled': ['noWatchdog', (b) => b.template.resourceCountIs('AWS::Events::Rule', 0)],
  'watchdog.cycleSeconds': [
    'every',
    (b) => expect(watchdogEnvironment(b).RTC_WATCHDOG_CYCLE_MS).toBe('10000'),
  ],
  'watchdog.maxFlagsPerCycle': [
    'every',
    (b) => {
      expect(watchdogPolicy(b).master.maxFlagsPerCycle).toBe(2);
      expect(watchdogPolicy(b).media.maxFlagsPerCycle).toBe(2);
    },
  ],
  'watchdog.masterMinHealthyShare': [
    'every',
    (b) => expect(watchdogPolicy(b).master.minHealthyShare).toBe(0.6),
  ],
  'watchdog.mediaMinHealthyShare': [
    'every',
    (b) => expect(watchdogPolicy(b).media.minHealthyShare).toBe(0.5),
  ],
  'watchdog.holdAlarmMinutes': [
    'every',
    (b) => expect(props(b, 'AWS::CloudWatch::Alarm', 'WatchdogHoldAlarm').EvaluationPeriods).toBe(5),
  ],
  'alarms.email': [
    'every',
    (b) => b.template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'oncall@example.org' }),
  ],
};

describe('every configuration field', () => {
  const built = new Map<Variant, Built>();
  beforeAll(() => {
    // GIVEN every field set to a non-default value  WHEN each variant is synthesized (no bundling)
    for (const [variant, raw] of Object.entries(VARIANTS) as [Variant, unknown][]) {
      const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
      const { stack } = addRtcHa(app, validateConfig(raw));
      built.set(variant, { stack, template: Template.fromStack(stack), assembly: app.synth() });
    }
  }, 120_000);

  it('has a check for each field, and sets each to something other than its default', () => {
    expect(Object.keys(CHECKS).sort()).toEqual(fieldsOf().sort());
    // The default a field has in its variant: production changes some.
    const unchanged = Object.entries(CHECKS).filter(([field, [variant]]) => {
      const raw = VARIANTS[variant];
      const production = field !== 'production' && 'production' in raw ? raw.production : undefined;
      const defaults = effectiveDefaults(production);
      return text(valueAt(raw, field)) === text(valueAt(defaults, field));
    });
    expect(unchanged.map(([field]) => field)).toEqual([]);
  });

  it.each(Object.entries(CHECKS))('%s reaches the template', (_, [variant, check]) => {
    // THEN
    check(built.get(variant)!);
  });
});
