import { z } from 'zod';
import { checkClusterAlarmsProps } from '../../constructs/alarms';
import { resolveRtcHaClusterOptions } from '../../constructs/cluster';
import { checkFleetWatchdogOptions } from '../../constructs/fleet-watchdog';
import { checkMasterFleetOptions } from '../../constructs/master-fleet';
import { checkMediaFleetOptions } from '../../constructs/media-fleet';
import { checkNetworkOptions } from '../../constructs/network';
import { checkNodeSoftwareOptions } from '../../constructs/node-software';
import { checkSessionStoreClusterOptions } from '../../constructs/session-store-cluster';
import { Problems, throwIfProblems, ValidationProblems } from '../../constructs/shared/problems';
import { checkSignalingLoadBalancerOptions } from '../../constructs/signaling-load-balancer';
import { SECRET_COMPLETE_ARN, IPV4_CIDR } from '../../constructs/shared/patterns';
import { checkStandbyStackOptions } from '../stacks/standby-stack';
import {
  fleetOptions,
  PAIR_FIELD_NAMES,
  pairOptions,
  WATCHDOG_FIELD_NAMES,
  watchdogOptions,
} from './options';
import { configSchema, RtcHaConfig } from './schema';

const SUBJECT = 'rtc-ha configuration';
type Sections = Partial<RtcHaConfig>;
type SectionCheck<K extends keyof RtcHaConfig> = (section: RtcHaConfig[K], valid: Sections) => string[];

/**
 * Value rules per section. Each runs when its section has the right shape, and reuses the rules of the
 * construct that owns the fields, so config and construct props can never disagree.
 */
const SECTION_CHECKS: { [K in keyof RtcHaConfig]: SectionCheck<K> } = {
  stackName: (name) => {
    const problems = new Problems();
    problems.matches(
      'stackName',
      name,
      /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
      'a CloudFormation stack name like RtcHa',
    );
    return problems.messages;
  },
  topology: () => [],
  production: () => [],
  env: (env) => {
    const problems = new Problems('env.');
    problems.matches('account', env.account, /^\d{12}$/, 'a 12-digit AWS account id');
    problems.matches('region', env.region, /^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region like eu-west-1');
    return problems.messages;
  },
  network: (network, valid) => {
    const problems = new Problems('network.');
    problems.require(
      network.vpcId === undefined || (valid.env?.account !== undefined && valid.env.region !== undefined),
      'vpcId',
      'needs env.account and env.region: an existing VPC is looked up in that account and region',
    );
    const region = valid.env?.region;
    for (const az of network.availabilityZones ?? []) {
      problems.require(
        region === undefined || az.startsWith(region),
        'availabilityZones',
        `must be in env.region ${region} (got ${az})`,
      );
    }
    return [...checkNetworkOptions(network, 'network.'), ...problems.messages];
  },
  sessionStore: (store) => checkSessionStoreClusterOptions(store, 'sessionStore.'),
  loadBalancer: (lb, valid) => {
    const problems = new Problems('loadBalancer.');
    const region = valid.env?.region;
    // Checked as the cluster builds it: production turns some of it on.
    const { loadBalancer } = resolveRtcHaClusterOptions({ production: valid.production, loadBalancer: lb });
    problems.require(
      !loadBalancer.accessLogs || region !== undefined,
      'accessLogs',
      'needs env.region: ELB log delivery is regional (production turns access logs on; set accessLogs to ' +
        'false to go without)',
    );
    const certificateRegion = lb.certificateArn?.split(':')[3];
    problems.require(
      region === undefined || certificateRegion === undefined || certificateRegion === region,
      'certificateArn',
      `must be a certificate in env.region ${region} (got one in ${certificateRegion})`,
    );
    return [...checkSignalingLoadBalancerOptions(loadBalancer, 'loadBalancer.'), ...problems.messages];
  },
  masters: (masters) => checkMasterFleetOptions(fleetOptions(masters), 'masters.'),
  media: (media, valid) => {
    const problems = new Problems('media.');
    const region = valid.env?.region;
    const secretRegion = media.turn?.tlsCertificateSecretArn?.split(':')[3];
    problems.require(
      region === undefined || secretRegion === undefined || secretRegion === region,
      'turn.tlsCertificateSecretArn',
      `must be a secret in env.region ${region}, where the nodes read it (got one in ${secretRegion})`,
    );
    return [...checkMediaFleetOptions(fleetOptions(media), 'media.'), ...problems.messages];
  },
  runtime: (runtime) => checkNodeSoftwareOptions(runtime, 'runtime.'),
  watchdog: (watchdog) =>
    checkFleetWatchdogOptions(watchdogOptions(watchdog), 'watchdog.', WATCHDOG_FIELD_NAMES),
  alarms: (alarms) => checkClusterAlarmsProps(alarms, 'alarms.'),
  pair: (pair, valid) => {
    const problems = new Problems('pair.');
    problems.matches('clientCidr', pair.clientCidr, IPV4_CIDR, 'an IPv4 CIDR block like 198.51.100.0/24');
    problems.require(
      !valid.production || pair.tls !== undefined,
      'tls',
      'is required in production: without it the pair serves plain HTTP and WebSocket (or set production to false)',
    );
    const region = valid.env?.region;
    const secretRegion = pair.tls?.certificateSecretArn.split(':')[3];
    problems.require(
      region === undefined ||
        secretRegion === undefined ||
        !SECRET_COMPLETE_ARN.test(pair.tls!.certificateSecretArn) ||
        secretRegion === region,
      'tls.certificateSecretArn',
      `must be a secret in env.region ${region}, where the nodes read it (got one in ${secretRegion})`,
    );
    return [...checkStandbyStackOptions(pairOptions(pair), 'pair.', PAIR_FIELD_NAMES), ...problems.messages];
  },
};

/** The sections of each topology; the others apply to both. */
const TOPOLOGY_SECTIONS: Record<RtcHaConfig['topology'], readonly (keyof RtcHaConfig)[]> = {
  cluster: ['network', 'sessionStore', 'loadBalancer', 'masters', 'media', 'runtime', 'watchdog', 'alarms'],
  pair: ['pair'],
};

/**
 * Validates raw configuration and fills in the app's own defaults (those of the constructs stay unset
 * for the constructs to fill in). Throws one error that lists every problem,
 * each naming its field: shape problems (types, unknown fields) for the whole object, value problems
 * for every section whose shape is right.
 */
export function validateConfig(raw: unknown): RtcHaConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = [...parsed.error.issues.map(describeIssue), ...runSectionChecks(validSections(raw))];
    throw new ValidationProblems(SUBJECT, problems);
  }
  throwIfProblems(SUBJECT, runSectionChecks(parsed.data));
  return parsed.data;
}

/** The sections of `raw` that have the right shape, defaults filled in. */
function validSections(raw: unknown): Sections {
  const input = isObject(raw) ? raw : {};
  const valid: Sections = {};
  for (const key of Object.keys(configSchema.shape) as (keyof RtcHaConfig)[]) {
    const section = configSchema.shape[key].safeParse(input[key]);
    if (section.success) Object.assign(valid, { [key]: section.data });
  }
  return valid;
}

/**
 * The value rules of every well-shaped section of the selected topology; a section of the other
 * topology is a problem of its own when it sets anything.
 */
function runSectionChecks(valid: Sections): string[] {
  const topology = valid.topology ?? 'cluster';
  const other = topology === 'cluster' ? 'pair' : 'cluster';
  return (Object.keys(SECTION_CHECKS) as (keyof RtcHaConfig)[]).flatMap((key) => {
    const section = valid[key];
    if (section === undefined) return [];
    if (TOPOLOGY_SECTIONS[other].includes(key)) {
      return isObject(section) && Object.keys(section).length > 0
        ? [
            `${key} applies to topology "${other}", not "${topology}": remove it, or set topology to "${other}"`,
          ]
        : [];
    }
    const check = SECTION_CHECKS[key] as SectionCheck<typeof key>;
    return check(section as never, valid);
  });
}

function describeIssue(issue: z.ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  return `${field}: ${issue.message}`;
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
