import { z } from 'zod';
import { KEY_PREFIX_PATTERN } from './keys';
import { DEFAULT_KEY_PREFIX } from './timings';

/**
 * Node configuration from environment variables: one zod object whose keys are the variable
 * names. Every problem is reported at once, each naming its variable.
 */
export type EnvResult<T> = { ok: true; config: T } | { ok: false; problems: string[] };

export function parseEnv<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): EnvResult<z.infer<z.ZodObject<S>>> {
  // Treat empty strings as unset, so `FOO=` falls back to the default like a missing FOO.
  const input = Object.fromEntries(Object.keys(shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = z.object(shape).safeParse(input);
  if (parsed.success) return { ok: true, config: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`,
    ),
  };
}

/** Parses the environment or prints every problem and exits with status 2. */
export function loadEnvOrExit<S extends z.ZodRawShape>(program: string, shape: S): z.infer<z.ZodObject<S>> {
  const result = parseEnv(shape);
  if (result.ok) return result.config;
  process.stderr.write(
    `${program}: invalid configuration (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}):\n` +
      result.problems.map((p) => `  - ${p}\n`).join(''),
  );
  process.exit(2);
}

/** Zod helpers for the variable types nodes use. */
export const envVar = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  ms: (fallback: number) => z.coerce.number().int().min(1).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  redisUrl: () =>
    z
      .string({ required_error: 'required (redis://host:port or rediss://host:port)' })
      .regex(/^rediss?:\/\/[^\s]+$/, 'must look like redis://host:port or rediss://host:port'),
  secret: () => z.string({ required_error: 'required' }).min(16, 'must be at least 16 characters'),
  /** RTC_KEY_PREFIX: the registry's key prefix, wherever a program reads the registry's keys. */
  keyPrefix: () =>
    z
      .string()
      .regex(KEY_PREFIX_PATTERN, `must match ${KEY_PREFIX_PATTERN} (no hash tag)`)
      .default(DEFAULT_KEY_PREFIX),
};
