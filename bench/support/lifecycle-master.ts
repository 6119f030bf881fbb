/**
 * A master process whose session lifecycle is shortened, for bench/abuse.ts: the master's own entry
 * (runtime/master/main.ts) plus BENCH_* overrides of timings its environment does not offer
 * (runtime/master/config.ts reads no RTC_* variable for them; the tests set them in-process).
 * Spawned by ./lifecycle-master-process.ts; never deployed.
 */
import { runNodeProgram } from '../../runtime/node/entry';
import { MASTER_ENV, MasterConfig, masterConfigFromEnv } from '../../runtime/master/config';
import { startMaster } from '../../runtime/master/master';
import type { EnvResult } from '../../runtime/contract';

/** BENCH_* variable -> the MasterConfig field it sets (milliseconds). */
export const LIFECYCLE_OVERRIDES = {
  /** Also the pending-participant timeout (runtime/master/master.ts). */
  BENCH_CONNECTION_TOKEN_TTL_MS: 'connectionTokenTtlMs',
  BENCH_EMPTY_SESSION_TIMEOUT_MS: 'emptySessionTimeoutMs',
  BENCH_SWEEP_INTERVAL_MS: 'sweepIntervalMs',
  BENCH_SESSION_SWEEP_EVERY_MS: 'sessionSweepEveryMs',
} as const;

function fromEnv(env: NodeJS.ProcessEnv): EnvResult<MasterConfig> {
  const parsed = masterConfigFromEnv(env);
  if (!parsed.ok) return parsed;
  const config: Record<string, unknown> = { ...parsed.config };
  const problems: string[] = [];
  for (const [name, field] of Object.entries(LIFECYCLE_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const ms = Number(raw);
    if (!Number.isInteger(ms) || ms <= 0) problems.push(`${name}: must be a positive integer (ms)`);
    else config[field] = ms;
  }
  return problems.length ? { ok: false, problems } : { ok: true, config: config as unknown as MasterConfig };
}

if (require.main === module) {
  void runNodeProgram({
    program: 'rtc-master (bench lifecycle)',
    role: 'master',
    variables: Object.keys(MASTER_ENV),
    fromEnv,
    start: startMaster,
  });
}
