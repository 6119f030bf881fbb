import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { FleetWatchdogOptions } from '../../constructs/fleet-watchdog';
import type { FieldNames } from '../../constructs/shared/problems';
import type { RtcHaConfig } from './schema';

/**
 * The construct options a config section stands for, where the config spells them differently: what
 * validation checks is what the stack builds.
 */

/** The fleet options of a `masters` or `media` section: the instance type as an `ec2.InstanceType`. */
export function fleetOptions<T extends { readonly instanceType?: string }>(
  section: T,
): Omit<T, 'instanceType'> & { readonly instanceType?: ec2.InstanceType } {
  const { instanceType, ...rest } = section;
  return {
    ...rest,
    instanceType: instanceType === undefined ? undefined : new ec2.InstanceType(instanceType),
  };
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

/** How the `watchdog` section names the fields of {@link watchdogOptions}, for validation messages. */
export const WATCHDOG_FIELD_NAMES: FieldNames = {
  cycle: 'cycleSeconds',
  holdAlarmAfter: 'holdAlarmMinutes',
  'masters.maxFlagsPerCycle': 'maxFlagsPerCycle',
  'media.maxFlagsPerCycle': 'maxFlagsPerCycle',
  'masters.minHealthyShare': 'masterMinHealthyShare',
  'media.minHealthyShare': 'mediaMinHealthyShare',
};
