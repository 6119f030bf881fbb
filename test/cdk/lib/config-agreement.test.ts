import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ClusterAlarms } from '../../../constructs/alarms';
import { RtcHaCluster } from '../../../constructs/cluster';
import { FleetWatchdog } from '../../../constructs/fleet-watchdog';
import { MasterFleet, resolveMasterFleetOptions } from '../../../constructs/master-fleet';
import { MediaFleet } from '../../../constructs/media-fleet';
import { Network } from '../../../constructs/network';
import { NodeSoftware } from '../../../constructs/node-software';
import { SessionStoreCluster } from '../../../constructs/session-store-cluster';
import { ValidationProblems } from '../../../constructs/shared/problems';
import { SignalingLoadBalancer } from '../../../constructs/signaling-load-balancer';
import {
  clusterProps,
  configSchema,
  fleetOptions,
  pairOptions,
  RtcHaConfig,
  validateConfig,
  watchdogOptions,
} from '../../../lib/config';
import { StandbyStack } from '../../../lib/stacks/standby-stack';
import { Fixture, fleetDependencies, testApp, watchedFleet } from '../support/app';

type Section = Exclude<keyof RtcHaConfig, 'stackName' | 'topology' | 'env' | 'alarms'>;

/** A stack in eu-west-1 with a VPC, bundling nothing: what each construct is built in. */
function stackWithVpc(): Fixture {
  const app = testApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { region: 'eu-west-1' } });
  return { app, stack, vpc: new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 }) };
}

/** An image to boot, so that the fleets bake none. */
const groupNamed = (stack: Stack, name: string) =>
  autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, name, name);

const MACHINE_IMAGE = ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 });

/**
 * Builds the construct that owns `section` from the section as the config parsed it (shape only, no
 * value rules): the construct's own validation, as the stack would meet it.
 */
const BUILD: Record<Section, (config: RtcHaConfig) => Stack> = {
  // The whole cluster: production decides what the other sections default to.
  production: (config) => {
    const stack = new Stack(testApp({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
    new RtcHaCluster(stack, 'Cluster', clusterProps(config));
    return stack;
  },
  network: (config) => {
    const stack = new Stack(testApp(), 'Test');
    new Network(stack, 'Network', config.network);
    return stack;
  },
  sessionStore: (config) => {
    const { stack, vpc } = stackWithVpc();
    new SessionStoreCluster(stack, 'SessionStore', { ...config.sessionStore, vpc });
    return stack;
  },
  loadBalancer: (config) => {
    const { stack, vpc } = stackWithVpc();
    new SignalingLoadBalancer(stack, 'LoadBalancer', { ...config.loadBalancer, vpc });
    return stack;
  },
  masters: (config) => {
    const f = stackWithVpc();
    const fleet = { ...fleetOptions(config.masters), vpc: f.vpc, machineImage: MACHINE_IMAGE };
    new MasterFleet(f.stack, 'Masters', { ...fleet, ...fleetDependencies(f) });
    return f.stack;
  },
  media: (config) => {
    const f = stackWithVpc();
    const fleet = { ...fleetOptions(config.media), vpc: f.vpc, machineImage: MACHINE_IMAGE };
    const { sessionStore, controlSecret, turnSecret } = fleetDependencies(f);
    new MediaFleet(f.stack, 'Media', { ...fleet, sessionStore, controlSecret, turnSecret });
    return f.stack;
  },
  runtime: (config) => {
    const { stack } = stackWithVpc();
    new NodeSoftware(stack, 'Runtime', {
      ...config.runtime,
      role: 'master',
      port: 8080,
      logGroup: new logs.LogGroup(stack, 'Logs'),
    });
    return stack;
  },
  pair: (config) =>
    new StandbyStack(
      testApp({ context: { 'aws:cdk:bundling-stacks': [] } }),
      'Test',
      pairOptions(config.pair),
    ),
  watchdog: (config) => {
    const { stack, vpc } = stackWithVpc();
    const options = watchdogOptions(config.watchdog);
    new FleetWatchdog(stack, 'Watchdog', {
      ...options,
      vpc,
      sessionStore: new SessionStoreCluster(stack, 'SessionStore', { vpc }),
      masters: { ...options.masters, fleet: watchedFleet(groupNamed(stack, 'masters')) },
      media: { ...options.media, fleet: watchedFleet(groupNamed(stack, 'media')) },
      alarms: new ClusterAlarms(stack, 'Alarms'),
    });
    return stack;
  },
};

/** Whether `build` goes through; only a validation error counts as a refusal, anything else fails the test. */
function accepts(build: () => unknown): boolean {
  try {
    build();
    return true;
  } catch (e) {
    if (e instanceof ValidationProblems) return false;
    throw e;
  }
}

/** The section within a configuration that selects its topology. */
const configOf = (section: Section, fields: unknown) =>
  section === 'pair' ? { topology: 'pair', pair: fields } : { [section]: fields };
const configAccepts = (raw: unknown) => accepts(() => validateConfig(raw));
const constructAccepts = (section: Section, raw: Record<string, unknown>) =>
  accepts(() => BUILD[section](configSchema.parse(raw)));

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111122223333:certificate/0f0e0d0c-0b0a-4909-8807-060504030201';
const HOSTED_ZONE = { id: 'Z0123456789ABCDEFGHIJ', name: 'example.org', recordName: 'rtc' };
const TLS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rtc-ha/turn-tls-AbC123';

/** Each range edge, and the relations between fields, just inside and just outside. */
const EDGES: [Section, unknown, boolean][] = [
  ['production', false, true],
  // Without a certificate: plain HTTP, which production refuses unless allowed.
  ['production', true, false],
  ['network', { natGateways: 0 }, false],
  ['network', { natGateways: 2 }, true],
  ['network', { natGateways: 3 }, false],
  ['network', { cidr: '10.40.0.0/15' }, false],
  ['network', { cidr: '10.40.0.0/22', subnetCidrMask: 24 }, true],
  ['network', { cidr: '10.40.0.0/23', subnetCidrMask: 24 }, false],
  ['network', { subnetCidrMask: 28 }, true],
  ['network', { subnetCidrMask: 29 }, false],
  ['sessionStore', { replicas: 0 }, false],
  ['sessionStore', { replicas: 5 }, true],
  ['sessionStore', { replicas: 6 }, false],
  ['sessionStore', { port: 1023 }, false],
  ['sessionStore', { port: 6379 }, false],
  ['sessionStore', { port: 65535 }, true],
  ['sessionStore', { snapshotRetentionDays: 0 }, true],
  ['sessionStore', { snapshotRetentionDays: 36 }, false],
  ['loadBalancer', { idleTimeoutSeconds: 0 }, false],
  ['loadBalancer', { idleTimeoutSeconds: 4000 }, true],
  ['loadBalancer', { idleTimeoutSeconds: 4001 }, false],
  ['loadBalancer', { healthCheck: { intervalSeconds: 4 } }, false],
  ['loadBalancer', { healthCheck: { intervalSeconds: 300 } }, true],
  ['loadBalancer', { healthCheck: { timeoutSeconds: 1 } }, false],
  ['loadBalancer', { healthCheck: { timeoutSeconds: 5 } }, false],
  ['loadBalancer', { healthCheck: { intervalSeconds: 6, timeoutSeconds: 5 } }, true],
  ['loadBalancer', { healthCheck: { healthyThreshold: 10, unhealthyThreshold: 2 } }, true],
  ['loadBalancer', { healthCheck: { unhealthyThreshold: 11 } }, false],
  ['loadBalancer', { allowPlainHttp: false }, false],
  [
    'loadBalancer',
    { allowPlainHttp: false, certificateArn: CERTIFICATE_ARN, domainName: 'rtc.example.com' },
    true,
  ],
  ['loadBalancer', { hostedZone: HOSTED_ZONE }, true],
  ['loadBalancer', { hostedZone: HOSTED_ZONE, allowPlainHttp: false }, true],
  ['loadBalancer', { hostedZone: HOSTED_ZONE, domainName: 'rtc.example.org' }, false],
  ['loadBalancer', { hostedZone: { ...HOSTED_ZONE, id: 'zone-1' } }, false],
  ['loadBalancer', { waf: { enabled: true, rateLimit: 99 } }, false],
  ['loadBalancer', { waf: { enabled: true, rateLimit: 100 } }, true],
  ['loadBalancer', { waf: { rateLimit: 2_000_000_001 } }, false],
  ['masters', { minCapacity: 1 }, false],
  ['masters', { minCapacity: 2 }, true],
  ['masters', { minCapacity: 7 }, true],
  ['masters', { minCapacity: 999 }, true],
  ['masters', { minCapacity: 1000 }, false],
  ['masters', { minCapacity: 3, maxCapacity: 3 }, false],
  ['masters', { minCapacity: 3, maxCapacity: 4 }, true],
  ['masters', { maxCapacity: 1001 }, false],
  ['masters', { desiredCapacity: 2 }, false],
  ['masters', { desiredCapacity: 6 }, true],
  ['masters', { desiredCapacity: 7 }, false],
  ['masters', { minCapacity: 7, desiredCapacity: 14 }, true],
  ['masters', { port: 1023 }, false],
  ['masters', { scaling: { targetCpuPercent: 9 } }, false],
  ['masters', { scaling: { targetCpuPercent: 10 } }, true],
  ['masters', { scaling: { targetCpuPercent: 90 } }, true],
  ['masters', { scaling: { targetCpuPercent: 91 } }, false],
  ['masters', { port: 65535 }, true],
  ['masters', { volumeSizeGiB: 7 }, false],
  ['masters', { volumeSizeGiB: 1024 }, true],
  ['masters', { logRetentionDays: 10 }, false],
  ['masters', { instanceTypes: ['t4g', 'c7g.medium'] }, false],
  ['masters', { instanceTypes: ['c7g.medium'] }, false],
  ['masters', { instanceTypes: ['c7g.medium', 'c7i.large'] }, false],
  ['masters', { instanceTypes: ['c7i.large', 'm7i.large'] }, true],
  ['media', { instanceTypes: Array.from({ length: 20 }, (_, i) => `c7g.${i + 1}xlarge`) }, true],
  ['media', { instanceTypes: Array.from({ length: 21 }, (_, i) => `c7g.${i + 1}xlarge`) }, false],
  ['media', { minCapacity: 0 }, false],
  ['media', { minCapacity: 4 }, true],
  ['media', { minCapacity: 4, maxCapacity: 5 }, false],
  ['media', { minCapacity: 4, maxCapacity: 6 }, true],
  ['media', { spareCapacity: -1 }, false],
  ['media', { spareCapacity: 0, desiredCapacity: 1 }, true],
  ['media', { desiredCapacity: 1 }, false],
  ['media', { minCapacity: 4, desiredCapacity: 15 }, true],
  ['media', { minCapacity: 4, desiredCapacity: 16 }, false],
  ['media', { controlPort: 40000 }, false],
  ['media', { controlPort: 39999 }, true],
  ['media', { mediaPortMin: 41000, mediaPortMax: 41000 }, true],
  ['media', { mediaPortMin: 41001, mediaPortMax: 41000 }, false],
  ['media', { mediaPortMax: 65536 }, false],
  ['media', { turn: { port: 0 } }, false],
  ['media', { turn: { port: 1 } }, true],
  ['media', { turn: { port: 49999 } }, false],
  ['media', { turn: { port: 50000 } }, false],
  ['media', { turn: { port: 60000 } }, true],
  ['media', { turn: { port: 9090 } }, false],
  ['media', { mediaPortMax: 50000 }, false],
  ['media', { mediaPortMax: 50000, turn: { enabled: false } }, true],
  ['media', { turn: { tlsHostName: 'turn.example.com' } }, false],
  [
    'media',
    { turn: { tlsHostName: '{ip}.turn.example.com', tlsCertificateSecretArn: TLS_SECRET_ARN } },
    true,
  ],
  ['media', { turn: { tlsHostName: 'turn.example.com', tlsCertificateSecretArn: 'arn:aws:s3:::x' } }, false],
  ['media', { turn: { enabled: false, tlsHostName: 'turn.example.com' } }, false],
  ['media', { scaling: { scaleOutLoadPercent: 99 } }, true],
  ['media', { scaling: { scaleOutLoadPercent: 100 } }, false],
  ['media', { scaling: { scaleInLoadPercent: 70 } }, false],
  ['media', { scaling: { scaleInLoadPercent: 69 } }, true],
  ['media', { scaling: { mode: 'target-tracking', targetLoadPercent: 0 } }, false],
  ['media', { scaling: { mode: 'target-tracking', targetLoadPercent: 99 } }, true],
  ['runtime', { drainDeadlineMs: 999 }, false],
  ['runtime', { drainDeadlineMs: 1000 }, true],
  ['runtime', { drainDeadlineMs: 3_570_000 }, true],
  ['runtime', { drainDeadlineMs: 3_570_001 }, false],
  ['runtime', { keyPrefix: 'a'.repeat(32) }, true],
  ['runtime', { keyPrefix: 'a'.repeat(33) }, false],
  ['runtime', { keyPrefix: '' }, false],
  ['watchdog', { cycleSeconds: 0 }, false],
  ['watchdog', { cycleSeconds: 1 }, true],
  ['watchdog', { cycleSeconds: 30 }, true],
  ['watchdog', { cycleSeconds: 31 }, false],
  ['watchdog', { maxFlagsPerCycle: 0 }, false],
  ['watchdog', { maxFlagsPerCycle: 100 }, true],
  ['watchdog', { maxFlagsPerCycle: 101 }, false],
  ['watchdog', { masterMinHealthyShare: -0.1 }, false],
  ['watchdog', { masterMinHealthyShare: 0 }, true],
  ['watchdog', { mediaMinHealthyShare: 0.99 }, true],
  ['watchdog', { mediaMinHealthyShare: 1 }, false],
  ['watchdog', { holdAlarmMinutes: 0 }, false],
  ['watchdog', { holdAlarmMinutes: 60 }, true],
  ['watchdog', { holdAlarmMinutes: 61 }, false],
  ['pair', { instanceType: 't4g' }, false],
  ['pair', { instanceType: 'c7g.large' }, true],
  ['pair', { preemptDelaySeconds: 0 }, true],
  ['pair', { preemptDelaySeconds: 1000 }, true],
  ['pair', { preemptDelaySeconds: 1001 }, false],
  ['pair', { privateAddresses: ['10.41.0.10'] }, false],
  ['pair', { privateAddresses: ['10.41.0.10', '10.41.0.10'] }, false],
  ['pair', { privateAddresses: ['10.41.0.10', '10.41.1.256'] }, false],
  ['pair', { privateAddresses: ['10.41.0.10', '10.41.1.10'] }, true],
  ['pair', { logRetentionDays: 10 }, false],
  ['pair', { logRetentionDays: 14 }, true],
  ['pair', { vpcCidr: '10.41.0.0/15' }, false],
  ['pair', { vpcCidr: '10.41.0.0/23' }, true],
  ['pair', { vpcCidr: '10.41.0.0/24' }, false],
  ['pair', { tls: { certificateSecretArn: TLS_SECRET_ARN, domainName: 'rtc.example.org' } }, true],
  ['pair', { tls: { certificateSecretArn: 'arn:aws:s3:::x', domainName: 'rtc.example.org' } }, false],
  ['pair', { tls: { certificateSecretArn: TLS_SECRET_ARN, domainName: 'RTC' } }, false],
];

describe('config validation and construct validation', () => {
  it.each(EDGES)('agree on %s %j (accepted: %s)', (section, fields, accepted) => {
    // GIVEN one section  WHEN the config validates it and its construct is built from it
    const raw = configOf(section, fields);
    // THEN both accept it, or both refuse it
    expect([configAccepts(raw), constructAccepts(section, raw)]).toEqual([accepted, accepted]);
  });

  it.each<[string, 'masters' | 'media', Record<string, unknown>, string, string]>([
    [
      'seven masters scale to twice as many, as MasterFleet documents',
      'masters',
      { minCapacity: 7 },
      '7',
      '14',
    ],
    [
      'four media nodes keep a floor of N+M and three times it as ceiling',
      'media',
      { minCapacity: 4 },
      '5',
      '15',
    ],
  ])('builds what the config accepts: %s', (_, section, fields, minSize, maxSize) => {
    const raw = { [section]: fields };
    expect(configAccepts(raw)).toBe(true);
    Template.fromStack(BUILD[section](configSchema.parse(raw))).hasResourceProperties(
      'AWS::AutoScaling::AutoScalingGroup',
      { MinSize: minSize, MaxSize: maxSize },
    );
  });

  it('defaults maxCapacity to twice any valid minCapacity, capped by the most a fleet may have', () => {
    for (let min = 2; min <= 999; min += 1) {
      const raw = { masters: { minCapacity: min } };
      expect(configAccepts(raw)).toBe(true);
      expect(resolveMasterFleetOptions(fleetOptions(configSchema.parse(raw).masters)).maxCapacity).toBe(
        Math.min(2 * min, 1000),
      );
    }
  });
});
