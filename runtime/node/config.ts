import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_TIMINGS, EnvResult, ID_PATTERN, envVar, parseEnv } from '../contract';

/** Settings every node (master or media agent) shares. */
export interface NodeConfig {
  /** Registry id of this node. */
  readonly nodeId: string;
  /** EC2 instance id on AWS, or a process label locally. */
  readonly instanceId: string;
  readonly listenHost: string;
  /** 0 picks a free port (in-process tests). */
  readonly port: number;
  /** host:port other nodes and the watchdog reach this node at; defaults to 127.0.0.1:<port>. */
  readonly advertiseAddress?: string;
  readonly redisUrl: string;
  readonly redisAuthToken?: string;
  readonly keyPrefix: string;
  readonly drainDeadlineMs: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTtlMs: number;
  /** Auto Scaling termination lifecycle hook to complete after a drain (boot mode on AWS). */
  readonly lifecycleHookName?: string;
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must look like host:port or [ipv6]:port');

/** Environment variables every node reads (see docs/contract.md, "Timings"). */
export function nodeEnvShape(defaultPort: number) {
  return {
    RTC_NODE_ID: z.string().regex(ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . -').optional(),
    RTC_INSTANCE_ID: z.string().max(256).optional(),
    RTC_LISTEN_HOST: z.string().default('0.0.0.0'),
    RTC_PORT: envVar.port(defaultPort),
    RTC_ADVERTISE_ADDRESS: hostPort.optional(),
    RTC_REDIS_URL: envVar.redisUrl(),
    RTC_REDIS_AUTH_TOKEN: z.string().optional(),
    RTC_KEY_PREFIX: envVar.keyPrefix(),
    RTC_DRAIN_DEADLINE_MS: envVar.ms(DEFAULT_TIMINGS.drainDeadlineMs),
    RTC_HEARTBEAT_INTERVAL_MS: envVar.ms(DEFAULT_TIMINGS.heartbeatIntervalMs),
    RTC_HEARTBEAT_TTL_MS: envVar.ms(DEFAULT_TIMINGS.heartbeatTtlMs),
    RTC_LIFECYCLE_HOOK_NAME: z.string().max(255).optional(),
  };
}

export type NodeEnv = z.infer<z.ZodObject<ReturnType<typeof nodeEnvShape>>>;

export function toNodeConfig(env: NodeEnv): NodeConfig {
  const nodeId = env.RTC_NODE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}-${process.pid}`;
  return {
    nodeId,
    instanceId: env.RTC_INSTANCE_ID ?? nodeId,
    listenHost: env.RTC_LISTEN_HOST,
    port: env.RTC_PORT,
    advertiseAddress: env.RTC_ADVERTISE_ADDRESS,
    redisUrl: env.RTC_REDIS_URL,
    redisAuthToken: env.RTC_REDIS_AUTH_TOKEN,
    keyPrefix: env.RTC_KEY_PREFIX,
    drainDeadlineMs: env.RTC_DRAIN_DEADLINE_MS,
    heartbeatIntervalMs: env.RTC_HEARTBEAT_INTERVAL_MS,
    heartbeatTtlMs: env.RTC_HEARTBEAT_TTL_MS,
    lifecycleHookName: env.RTC_LIFECYCLE_HOOK_NAME,
  };
}

/** Parses `env` with `shape` into a node's config, listing every problem (for tests and tools). */
export function configFromEnv<S extends z.ZodRawShape, C>(
  shape: S,
  toConfig: (env: z.infer<z.ZodObject<S>>) => C,
  env: NodeJS.ProcessEnv,
): EnvResult<C> {
  const parsed = parseEnv(shape, env);
  return parsed.ok ? { ok: true, config: toConfig(parsed.config) } : parsed;
}

/** Prints every configuration problem on stderr and exits with status 2 (a config error). */
export function exitOnProblems(program: string, problems: readonly string[]): never {
  process.stderr.write(
    `${program}: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
      problems.map((p) => `  - ${p}\n`).join(''),
  );
  process.exit(2);
}
