import { z } from 'zod';
import { DEFAULT_MEDIA_PORT_RANGE, DEFAULT_PORTS, EnvResult, envVar } from '../contract';
import { NodeConfig, configFromEnv, nodeEnvShape, toNodeConfig } from '../node/config';

export interface MediaConfig extends NodeConfig {
  /** Most sessions (rooms) placed on this node. */
  readonly capacity: number;
  /** Where clients send media; defaults to the advertise address's host. */
  readonly publicAddress?: string;
  /** UDP range Janus takes ICE, RTP and RTCP on (the security group opens exactly this range). */
  readonly mediaPortMin: number;
  readonly mediaPortMax: number;
  /** 'off': no Janus, so no media (media requests get media_unavailable); see README.md. */
  readonly janus: 'on' | 'off';
  /** The node's address Janus gathers ICE candidates on (on AWS its private IPv4). */
  readonly iceAddress?: string;
  /** Shared with the masters: both ends of the control channel prove they know it. */
  readonly controlSecret?: string;
}

/** The media agent's environment variables. */
export const MEDIA_ENV = {
  ...nodeEnvShape(DEFAULT_PORTS.media),
  RTC_MEDIA_CAPACITY: envVar.positiveInt(100),
  RTC_PUBLIC_ADDRESS: z.string().min(1).max(256).optional(),
  RTC_MEDIA_PORT_MIN: envVar.port(DEFAULT_MEDIA_PORT_RANGE.min),
  RTC_MEDIA_PORT_MAX: envVar.port(DEFAULT_MEDIA_PORT_RANGE.max),
  /** Default: on when RTC_MEDIA_ICE_ADDRESS is set (boot mode sets it), else off. */
  RTC_JANUS: z.enum(['on', 'off']).optional(),
  RTC_MEDIA_ICE_ADDRESS: z.string().ip().optional(),
  RTC_MEDIA_CONTROL_SECRET: envVar.secret().optional(),
};

type MediaEnv = z.infer<z.ZodObject<typeof MEDIA_ENV>>;

export function toMediaConfig(env: MediaEnv): MediaConfig {
  return {
    ...toNodeConfig(env),
    capacity: env.RTC_MEDIA_CAPACITY,
    publicAddress: env.RTC_PUBLIC_ADDRESS,
    mediaPortMin: env.RTC_MEDIA_PORT_MIN,
    mediaPortMax: env.RTC_MEDIA_PORT_MAX,
    janus: env.RTC_JANUS ?? (env.RTC_MEDIA_ICE_ADDRESS ? 'on' : 'off'),
    iceAddress: env.RTC_MEDIA_ICE_ADDRESS,
    controlSecret: env.RTC_MEDIA_CONTROL_SECRET,
  };
}

/** What a media agent cannot run with beyond single variables: every problem, each naming its variable. */
export function mediaConfigProblems(config: MediaConfig): string[] {
  const problems: string[] = [];
  if (config.mediaPortMin > config.mediaPortMax) {
    problems.push('RTC_MEDIA_PORT_MIN: must not exceed RTC_MEDIA_PORT_MAX');
  }
  if (config.janus === 'on' && !config.iceAddress) {
    problems.push('RTC_MEDIA_ICE_ADDRESS: required while Janus runs (RTC_JANUS=on)');
  }
  if (config.janus === 'on' && !config.controlSecret) {
    problems.push(
      'RTC_MEDIA_CONTROL_SECRET: required while Janus runs (masters reach it through the control channel)',
    );
  }
  return problems;
}

export function mediaConfigFromEnv(env: NodeJS.ProcessEnv): EnvResult<MediaConfig> {
  const result = configFromEnv(MEDIA_ENV, toMediaConfig, env);
  if (!result.ok) return result;
  const problems = mediaConfigProblems(result.config);
  return problems.length ? { ok: false, problems } : result;
}
