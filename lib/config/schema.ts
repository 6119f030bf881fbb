import { z } from 'zod';

/**
 * The shape of the deployment configuration: types and unknown keys. A field a construct owns has no
 * default here: left unset, the construct fills it in (its `resolveXxxOptions`), so each default has
 * one home. Value rules (ranges, formats, relations between fields) live with the constructs too and
 * are applied by `validateConfig`. docs/configuration.md documents every field.
 */
const integer = () => z.number().int();

const network = z
  .object({
    vpcId: z.string().optional(),
    cidr: z.string().optional(),
    availabilityZones: z.array(z.string()).optional(),
    natGateways: integer().optional(),
    subnetCidrMask: integer().optional(),
    vpcEndpoints: z.boolean().optional(),
  })
  .strict();

const sessionStore = z
  .object({
    engine: z.enum(['valkey', 'redis']).optional(),
    engineVersion: z.string().optional(),
    nodeType: z.string().optional(),
    replicas: integer().optional(),
    port: integer().optional(),
    snapshotRetentionDays: integer().optional(),
    snapshotWindow: z.string().optional(),
    maintenanceWindow: z.string().optional(),
  })
  .strict();

const loadBalancer = z
  .object({
    certificateArn: z.string().optional(),
    domainName: z.string().optional(),
    hostedZone: z
      .object({ id: z.string(), name: z.string(), recordName: z.string().optional() })
      .strict()
      .optional(),
    idleTimeoutSeconds: integer().optional(),
    accessLogs: z.boolean().optional(),
    deletionProtection: z.boolean().optional(),
    allowPlainHttp: z.boolean().optional(),
    waf: z
      .object({
        enabled: z.boolean().optional(),
        rateLimit: integer().optional(),
      })
      .strict()
      .optional(),
    healthCheck: z
      .object({
        intervalSeconds: integer().optional(),
        timeoutSeconds: integer().optional(),
        healthyThreshold: integer().optional(),
        unhealthyThreshold: integer().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const masters = z
  .object({
    instanceTypes: z.array(z.string()).optional(),
    minCapacity: integer().optional(),
    desiredCapacity: integer().optional(),
    maxCapacity: integer().optional(),
    port: integer().optional(),
    volumeSizeGiB: integer().optional(),
    logRetentionDays: integer().optional(),
    scaling: z.object({ targetCpuPercent: integer().optional() }).strict().optional(),
  })
  .strict();

const media = z
  .object({
    instanceTypes: z.array(z.string()).optional(),
    minCapacity: integer().optional(),
    spareCapacity: integer().optional(),
    desiredCapacity: integer().optional(),
    maxCapacity: integer().optional(),
    volumeSizeGiB: integer().optional(),
    logRetentionDays: integer().optional(),
    controlPort: integer().optional(),
    mediaPortMin: integer().optional(),
    mediaPortMax: integer().optional(),
    turn: z
      .object({
        enabled: z.boolean().optional(),
        port: integer().optional(),
        tlsCertificateSecretArn: z.string().optional(),
        tlsHostName: z.string().optional(),
      })
      .strict()
      .optional(),
    scaling: z
      .object({
        mode: z.enum(['step', 'target-tracking']).optional(),
        scaleOutLoadPercent: integer().optional(),
        scaleInLoadPercent: integer().optional(),
        targetLoadPercent: integer().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const runtime = z
  .object({
    keyPrefix: z.string().optional(),
    drainDeadlineMs: integer().optional(),
  })
  .strict();

const watchdog = z
  .object({
    enabled: z.boolean().optional(),
    // Durations are never negative; the watchdog construct owns the ranges.
    cycleSeconds: integer().nonnegative().optional(),
    maxFlagsPerCycle: integer().optional(),
    masterMinHealthyShare: z.number().optional(),
    mediaMinHealthyShare: z.number().optional(),
    holdAlarmMinutes: integer().nonnegative().optional(),
  })
  .strict();

const pair = z
  .object({
    instanceType: z.string().optional(),
    failback: z.enum(['automatic', 'manual']).optional(),
    // Durations are never negative; the pair construct owns the range.
    preemptDelaySeconds: integer().nonnegative().optional(),
    privateAddresses: z.array(z.string()).optional(),
    clientCidr: z.string().optional(),
    logRetentionDays: integer().optional(),
    vpcCidr: z.string().optional(),
    tls: z.object({ certificateSecretArn: z.string(), domainName: z.string() }).strict().optional(),
  })
  .strict();

/** The whole configuration; every section may be left out. */
export const configSchema = z
  .object({
    stackName: z.string().default('RtcHa'),
    // The cluster's sections and `pair` each belong to one topology (docs/topologies.md).
    topology: z.enum(['cluster', 'pair']).default('cluster'),
    production: z.boolean().optional(),
    env: z.object({ account: z.string().optional(), region: z.string().optional() }).strict().default({}),
    network: network.default({}),
    sessionStore: sessionStore.default({}),
    loadBalancer: loadBalancer.default({}),
    masters: masters.default({}),
    media: media.default({}),
    runtime: runtime.default({}),
    watchdog: watchdog.default({}),
    alarms: z.object({ email: z.string().optional() }).strict().default({}),
    pair: pair.default({}),
  })
  .strict();

/** The validated deployment configuration: the app's own defaults filled in, the constructs' left unset. */
export type RtcHaConfig = z.infer<typeof configSchema>;
