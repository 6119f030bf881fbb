import { z } from 'zod';
import {
  DEFAULT_PORTS,
  DEFAULT_TIMINGS,
  EnvResult,
  LIMITS,
  TURN_ENV,
  TURN_TLS_HOST_ENV,
  TlsPem,
  envVar,
  tlsPemVar,
} from '../contract';
import type { MasterTurn } from './media-placement';
import { NodeConfig, configFromEnv, nodeEnvShape, toNodeConfig } from '../node/config';

/** Everything a master needs; `startMaster` takes it, main.ts builds it from the environment. */
export interface MasterConfig extends NodeConfig {
  /** REST API password (HTTP Basic, user `rtc-ha`); connection tokens are signed with its key. */
  readonly apiSecret: string;
  /**
   * The API secret before its last rotation, accepted as well (REST and the tokens signed under
   * it) so an app still using it keeps working while the masters roll. See docs/deploying.md.
   */
  readonly previousApiSecret?: string;
  /** Connection token signing key; derived from the API secret when unset. */
  readonly tokenSecret?: string;
  readonly reconnectWindowMs: number;
  readonly joinTimeoutMs: number;
  /** A socket with no frame at all for this long is dead (clients ping every 2 s). */
  readonly silentSocketTimeoutMs: number;
  readonly connectionTokenTtlMs: number;
  /** WebSocket sockets this master holds at most; LIMITS.maxSocketsPerMaster when unset. */
  readonly maxSockets?: number;
  /** Session lifecycle (docs/contract.md); DEFAULT_TIMINGS when unset (tests shorten them). */
  readonly emptySessionTimeoutMs?: number;
  readonly sweepIntervalMs?: number;
  readonly sessionSweepEveryMs?: number;
  /** Shared with the media agents (control channel); without it media frames get media_unavailable. */
  readonly mediaControlSecret?: string;
  /** TURN on the media nodes (RTC_TURN_SECRET shared with them): joins and media moves carry credentials. */
  readonly turn?: MasterTurn;
  /** Active-standby pair: serve only under the lease the standby agent writes here (runtime/standby/lease.ts). */
  readonly serveLeaseFile?: string;
  /** With it, the master serves HTTPS and wss:// itself (no load balancer in front: the pair). */
  readonly tls?: TlsPem;
}

/** The master's environment variables (docs/contract.md; README of runtime/master). */
export const MASTER_ENV = {
  ...nodeEnvShape(DEFAULT_PORTS.master),
  RTC_API_SECRET: envVar.secret(),
  RTC_API_SECRET_PREVIOUS: envVar.secret().optional(),
  RTC_TOKEN_SECRET: envVar.secret().optional(),
  RTC_RECONNECT_WINDOW_MS: envVar.ms(DEFAULT_TIMINGS.reconnectWindowMs),
  RTC_MAX_CONNECTIONS: envVar.positiveInt(LIMITS.maxSocketsPerMaster),
  RTC_MEDIA_CONTROL_SECRET: envVar.secret().optional(),
  ...TURN_ENV,
  ...TURN_TLS_HOST_ENV,
  RTC_SERVE_LEASE_FILE: z.string().startsWith('/', 'must be an absolute path').optional(),
  /** The master's certificate chain and private key, PEM, in one value (a secret): TLS on RTC_PORT. */
  RTC_TLS_PEM: tlsPemVar().optional(),
};

type MasterEnv = z.infer<z.ZodObject<typeof MASTER_ENV>>;

export function toMasterConfig(env: MasterEnv): MasterConfig {
  return {
    ...toNodeConfig(env),
    apiSecret: env.RTC_API_SECRET,
    previousApiSecret: env.RTC_API_SECRET_PREVIOUS,
    tokenSecret: env.RTC_TOKEN_SECRET,
    reconnectWindowMs: env.RTC_RECONNECT_WINDOW_MS,
    joinTimeoutMs: DEFAULT_TIMINGS.joinTimeoutMs,
    silentSocketTimeoutMs: 2 * DEFAULT_TIMINGS.clientDeadSocketTimeoutMs,
    connectionTokenTtlMs: DEFAULT_TIMINGS.connectionTokenTtlMs,
    maxSockets: env.RTC_MAX_CONNECTIONS,
    mediaControlSecret: env.RTC_MEDIA_CONTROL_SECRET,
    turn: env.RTC_TURN_SECRET
      ? { secret: env.RTC_TURN_SECRET, port: env.RTC_TURN_PORT, tlsHost: env.RTC_TURN_TLS_HOST }
      : undefined,
    serveLeaseFile: env.RTC_SERVE_LEASE_FILE,
    tls: env.RTC_TLS_PEM,
  };
}

export const masterConfigFromEnv = (env: NodeJS.ProcessEnv): EnvResult<MasterConfig> =>
  configFromEnv(MASTER_ENV, toMasterConfig, env);
