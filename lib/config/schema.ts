import { z } from 'zod';
import {
  DRAIN_DEADLINE_MS,
  KEY_PREFIX,
  MASTER_PORT,
  MEDIA_CONTROL_PORT,
} from '../../constructs/shared/defaults';
import { DEFAULT_TIMINGS } from '../../runtime/contract/timings';
import { DEFAULT_POLICY } from '../../runtime/watchdog/core';

/**
 * The shape of the deployment configuration: types, unknown keys and defaults. Value rules (ranges,
 * formats, relations between fields) live with the constructs that own the fields and are applied by
 * `validateConfig`. docs/configuration.md documents every field.
 */
const integer = () => z.number().int();

const network = z
  .object({
    vpcId: z.string().optional(),
    cidr: z.string().default('10.40.0.0/16'),
    availabilityZones: z.array(z.string()).optional(),
    natGateways: integer().default(1),
    subnetCidrMask: integer().default(24),
  })
  .strict();

const sessionStore = z
  .object({
    engine: z.enum(['valkey', 'redis']).default('valkey'),
    engineVersion: z.string().optional(),
    nodeType: z.string().default('cache.t4g.small'),
    replicas: integer().default(1),
    port: integer().default(6380),
    snapshotRetentionDays: integer().default(7),
    snapshotWindow: z.string().default('03:00-04:00'),
    maintenanceWindow: z.string().default('sun:05:00-sun:06:00'),
  })
  .strict();

const loadBalancer = z
  .object({
    certificateArn: z.string().optional(),
    domainName: z.string().optional(),
    idleTimeoutSeconds: integer().default(3600),
    accessLogs: z.boolean().default(false),
    healthCheck: z
      .object({
        intervalSeconds: integer().default(5),
        timeoutSeconds: integer().default(2),
        healthyThreshold: integer().default(2),
        unhealthyThreshold: integer().default(2),
      })
      .strict()
      .default({}),
  })
  .strict();

const masters = z
  .object({
    instanceType: z.string().default('t4g.small'),
    minCapacity: integer().default(3),
    desiredCapacity: integer().optional(),
    maxCapacity: integer().default(6),
    port: integer().default(MASTER_PORT),
    volumeSizeGiB: integer().default(16),
    logRetentionDays: integer().optional(),
  })
  .strict();

const media = z
  .object({
    instanceType: z.string().default('c7g.large'),
    minCapacity: integer().default(1),
    spareCapacity: integer().default(1),
    desiredCapacity: integer().optional(),
    maxCapacity: integer().default(6),
    volumeSizeGiB: integer().default(16),
    logRetentionDays: integer().optional(),
    controlPort: integer().default(MEDIA_CONTROL_PORT),
    mediaPortMin: integer().default(40000),
    mediaPortMax: integer().default(49999),
    turnPorts: z.array(integer()).default([3478, 5349]),
    scaling: z
      .object({
        mode: z.enum(['step', 'target-tracking']).default('step'),
        scaleOutCpuPercent: integer().default(70),
        scaleInCpuPercent: integer().default(30),
        targetCpuPercent: integer().default(50),
      })
      .strict()
      .default({}),
  })
  .strict();

const runtime = z
  .object({
    keyPrefix: z.string().default(KEY_PREFIX),
    drainDeadlineMs: integer().default(DRAIN_DEADLINE_MS),
  })
  .strict();

const watchdog = z
  .object({
    enabled: z.boolean().default(true),
    cycleSeconds: integer().default(DEFAULT_TIMINGS.watchdogAwsCycleMs / 1000),
    maxFlagsPerCycle: integer().default(DEFAULT_POLICY.master.maxFlagsPerCycle),
    masterMinHealthyShare: z.number().default(DEFAULT_POLICY.master.minHealthyShare),
    mediaMinHealthyShare: z.number().default(DEFAULT_POLICY.media.minHealthyShare),
    holdAlarmMinutes: integer().default(3),
  })
  .strict();

/** The whole configuration; every section may be left out. */
export const configSchema = z
  .object({
    stackName: z.string().default('RtcHa'),
    env: z.object({ account: z.string().optional(), region: z.string().optional() }).strict().default({}),
    network: network.default({}),
    sessionStore: sessionStore.default({}),
    loadBalancer: loadBalancer.default({}),
    masters: masters.default({}),
    media: media.default({}),
    runtime: runtime.default({}),
    watchdog: watchdog.default({}),
    alarms: z.object({ email: z.string().optional() }).strict().default({}),
  })
  .strict();

/** The deployment configuration, every default filled in. */
export type RtcHaConfig = z.infer<typeof configSchema>;
