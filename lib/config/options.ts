import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { RtcHaClusterProps } from '../../constructs/cluster';
import type { FleetWatchdogOptions } from '../../constructs/fleet-watchdog';
import { IPV4_CIDR } from '../../constructs/shared/patterns';
import type { FieldNames } from '../../constructs/shared/problems';
import type { StandbyStackOptions } from '../stacks/standby-stack';
import type { RtcHaConfig } from './schema';

/**
 * The construct options a config section stands for, where the config spells them differently: what
 * validation checks is what the stack builds.
 */

/** The fleet options of a `masters` or `media` section: the instance types as `ec2.InstanceType`s. */
export function fleetOptions<T extends { readonly instanceTypes?: string[] }>(
  section: T,
): Omit<T, 'instanceTypes'> & { readonly instanceTypes?: ec2.InstanceType[] } {
  const { instanceTypes, ...rest } = section;
  return { ...rest, instanceTypes: instanceTypes?.map((t) => new ec2.InstanceType(t)) };
}

/** The watchdog options of the `watchdog` section: whole seconds and minutes as durations. */
export function watchdogOptions(watchdog: RtcHaConfig['watchdog']): FleetWatchdogOptions {
  const { cycleSeconds, holdAlarmMinutes, maxFlagsPerCycle } = watchdog;
  return {
    cycle: cycleSeconds === undefined ? undefined : Duration.seconds(cycleSeconds),
    holdAlarmAfter: holdAlarmMinutes === undefined ? undefined : Duration.minutes(holdAlarmMinutes),
    masters: { maxFlagsPerCycle, minHealthyShare: watchdog.masterMinHealthyShare },
    media: { maxFlagsPerCycle, minHealthyShare: watchdog.mediaMinHealthyShare },
  };
}

/** The cluster's props: what the configuration deploys, section by section. */
export function clusterProps(config: RtcHaConfig): RtcHaClusterProps {
  return {
    production: config.production,
    network: config.network,
    sessionStore: config.sessionStore,
    loadBalancer: config.loadBalancer,
    masters: fleetOptions(config.masters),
    media: fleetOptions(config.media),
    runtime: config.runtime,
    watchdog: { enabled: config.watchdog.enabled, ...watchdogOptions(config.watchdog) },
    alarms: config.alarms,
  };
}

/** How the `watchdog` section names the fields of {@link watchdogOptions}, for validation messages. */
export const WATCHDOG_FIELD_NAMES: FieldNames = {
  cycle: 'cycleSeconds',
  holdAlarmAfter: 'holdAlarmMinutes',
  'masters.maxFlagsPerCycle': 'maxFlagsPerCycle',
  'media.maxFlagsPerCycle': 'maxFlagsPerCycle',
  'masters.minHealthyShare': 'masterMinHealthyShare',
  'media.minHealthyShare': 'mediaMinHealthyShare',
};

/**
 * The pair's options from the `pair` section: the instance type as an `ec2.InstanceType`, the delay
 * as a duration, the client CIDR block as a peer (left out while it is no CIDR block, which the
 * section's check reports).
 */
export function pairOptions(pair: RtcHaConfig['pair']): StandbyStackOptions {
  const { instanceType, preemptDelaySeconds, clientCidr, ...rest } = pair;
  return {
    ...rest,
    instanceType: instanceType === undefined ? undefined : new ec2.InstanceType(instanceType),
    preemptDelay: preemptDelaySeconds === undefined ? undefined : Duration.seconds(preemptDelaySeconds),
    clients: clientCidr !== undefined && IPV4_CIDR.test(clientCidr) ? ec2.Peer.ipv4(clientCidr) : undefined,
  };
}

/** How the `pair` section names the fields of {@link pairOptions}, for validation messages. */
export const PAIR_FIELD_NAMES: FieldNames = { preemptDelay: 'preemptDelaySeconds', clients: 'clientCidr' };
