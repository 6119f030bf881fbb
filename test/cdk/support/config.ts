import { z } from 'zod';
import { resolveRtcHaClusterOptions } from '../../../constructs/cluster';
import { resolveFleetWatchdogOptions } from '../../../constructs/fleet-watchdog';
import { resolveMasterFleetOptions } from '../../../constructs/master-fleet';
import { resolveMediaFleetOptions } from '../../../constructs/media-fleet';
import { resolveNetworkOptions } from '../../../constructs/network';
import { resolveNodeSoftwareOptions } from '../../../constructs/node-software';
import { resolveSessionStoreClusterOptions } from '../../../constructs/session-store-cluster';
import { resolveSignalingLoadBalancerOptions } from '../../../constructs/signaling-load-balancer';
import { resolveStandbyPairOptions } from '../../../constructs/standby-pair';
import { DEFAULT_VPC_CIDR } from '../../../lib/stacks/standby-stack';
import { configSchema, validateConfig } from '../../../lib/config';

/** Every field path of a schema, e.g. `media.scaling.mode`. */
export function fieldsOf(schema: z.ZodTypeAny = configSchema, prefix = ''): string[] {
  const inner =
    schema instanceof z.ZodDefault || schema instanceof z.ZodOptional ? schema._def.innerType : schema;
  if (!(inner instanceof z.ZodObject)) return [prefix.slice(0, -1)];
  return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([key, value]) =>
    fieldsOf(value, `${prefix}${key}.`),
  );
}

/** The value at a field path such as `media.scaling.mode`. */
export function valueAt(object: unknown, field: string): unknown {
  return field
    .split('.')
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], object);
}

/**
 * What an empty configuration deploys, in config terms, each value read from its one home: the app's
 * own defaults from the schema, the rest from the resolver of the construct that owns the section (with
 * what `production`, when given, turns on).
 */
export function effectiveDefaults(production?: boolean): Record<string, unknown> {
  const app = validateConfig({});
  const watchdog = resolveFleetWatchdogOptions();
  // The config sets one maxFlagsPerCycle for both fleets: it has one default only while they agree.
  expect(watchdog.media.maxFlagsPerCycle).toBe(watchdog.masters.maxFlagsPerCycle);
  const cluster = resolveRtcHaClusterOptions({ production });
  const pair = resolveStandbyPairOptions();
  return {
    ...app,
    production: cluster.production,
    network: resolveNetworkOptions(cluster.network),
    sessionStore: resolveSessionStoreClusterOptions(),
    loadBalancer: resolveSignalingLoadBalancerOptions(cluster.loadBalancer),
    masters: resolveMasterFleetOptions(),
    media: resolveMediaFleetOptions(),
    runtime: resolveNodeSoftwareOptions(),
    watchdog: {
      ...app.watchdog,
      enabled: cluster.watchdogEnabled,
      cycleSeconds: watchdog.cycle.toSeconds(),
      maxFlagsPerCycle: watchdog.masters.maxFlagsPerCycle,
      masterMinHealthyShare: watchdog.masters.minHealthyShare,
      mediaMinHealthyShare: watchdog.media.minHealthyShare,
      holdAlarmMinutes: watchdog.holdAlarmAfter.toMinutes(),
    },
    pair: {
      instanceType: pair.instanceType.toString(),
      failback: pair.failback,
      preemptDelaySeconds: pair.preemptDelay.toSeconds(),
      clientCidr: pair.clients.uniqueId,
      logRetentionDays: pair.logRetentionDays,
      vpcCidr: DEFAULT_VPC_CIDR,
    },
  };
}
