import { z } from 'zod';
import { envVar, parseEnv } from '../contract/env';
import { NODE_ROLES } from '../contract/registry';
import { DEFAULT_KEY_PREFIX, DEFAULT_TIMINGS } from '../contract/timings';
import type { AwsGroup } from './aws';
import { DEFAULT_POLICY, type Policy } from './core';

/** What the AWS watchdog needs; the construct writes it as environment variables, the handler reads them. */
export interface WatchdogSettings {
  /** `rediss://primary-endpoint:port`. */
  readonly redisUrl: string;
  /** The Secrets Manager secret holding the AUTH token. */
  readonly authSecretArn?: string;
  /** JSON field of the secret that holds the token; absent: the whole secret string is the token. */
  readonly authSecretField?: string;
  readonly keyPrefix: string;
  readonly replicationGroupId?: string;
  readonly cycleMs: number;
  readonly groups: readonly AwsGroup[];
  readonly policy: Policy;
}

const ENV = {
  redisUrl: 'RTC_REDIS_URL',
  authSecretArn: 'RTC_REDIS_AUTH_SECRET_ARN',
  authSecretField: 'RTC_REDIS_AUTH_SECRET_FIELD',
  keyPrefix: 'RTC_KEY_PREFIX',
  replicationGroupId: 'RTC_REPLICATION_GROUP_ID',
  cycleMs: 'RTC_WATCHDOG_CYCLE_MS',
  groups: 'RTC_WATCHDOG_GROUPS',
  policy: 'RTC_WATCHDOG_POLICY',
} as const satisfies Record<keyof WatchdogSettings, string>;

const FleetPolicySchema = z.object({
  maxFlagsPerCycle: z.number().int().positive(),
  graceMs: z.number().int().nonnegative(),
  minHealthyShare: z.number().min(0).lt(1),
  bootDeadlineMs: z.number().int().positive().optional(),
});

const GroupSchema = z.object({
  role: z.enum(NODE_ROLES),
  groupName: z.string().min(1),
  targetGroupArn: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65_535).optional(),
});

function json<T extends z.ZodTypeAny>(schema: T) {
  return z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const SHAPE = {
  [ENV.redisUrl]: envVar.redisUrl(),
  [ENV.authSecretArn]: z.string().optional(),
  [ENV.authSecretField]: z.string().optional(),
  [ENV.keyPrefix]: z.string().default(DEFAULT_KEY_PREFIX),
  [ENV.replicationGroupId]: z.string().optional(),
  [ENV.cycleMs]: envVar.ms(DEFAULT_TIMINGS.watchdogAwsCycleMs),
  [ENV.groups]: json(z.array(GroupSchema).min(1)),
  [ENV.policy]: json(z.object({ master: FleetPolicySchema, media: FleetPolicySchema })).default(
    JSON.stringify(DEFAULT_POLICY),
  ),
};

/** Reads the settings from the environment, or throws one error that lists every problem. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): WatchdogSettings {
  const result = parseEnv(SHAPE, env);
  if (!result.ok) throw new Error(`watchdog: invalid configuration: ${result.problems.join('; ')}`);
  const c = result.config;
  return {
    redisUrl: c[ENV.redisUrl],
    authSecretArn: c[ENV.authSecretArn],
    authSecretField: c[ENV.authSecretField],
    keyPrefix: c[ENV.keyPrefix],
    replicationGroupId: c[ENV.replicationGroupId],
    cycleMs: c[ENV.cycleMs],
    groups: c[ENV.groups],
    policy: c[ENV.policy],
  };
}

/**
 * The environment variables for `settings`. `toJson` serializes the structured ones: the construct
 * passes `Stack.toJsonString`, so that tokens inside them resolve.
 */
export function settingsEnvironment(
  settings: WatchdogSettings,
  toJson: (value: unknown) => string = JSON.stringify,
): Record<string, string> {
  const env: Record<string, string | undefined> = {
    [ENV.redisUrl]: settings.redisUrl,
    [ENV.authSecretArn]: settings.authSecretArn,
    [ENV.authSecretField]: settings.authSecretField,
    [ENV.keyPrefix]: settings.keyPrefix,
    [ENV.replicationGroupId]: settings.replicationGroupId,
    [ENV.cycleMs]: String(settings.cycleMs),
    [ENV.groups]: toJson(settings.groups),
    [ENV.policy]: toJson(settings.policy),
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
