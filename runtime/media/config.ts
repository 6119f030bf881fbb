import { z } from 'zod';
import { DEFAULT_PORTS, EnvResult, envVar } from '../contract';
import { NodeConfig, configFromEnv, nodeEnvShape, toNodeConfig } from '../node/config';

export interface MediaConfig extends NodeConfig {
  /** Most sessions (rooms) placed on this node. */
  readonly capacity: number;
  /** Where clients send media; defaults to the advertise address's host. */
  readonly publicAddress?: string;
  /** UDP range the media server will use (informational until media forwarding lands). */
  readonly mediaPortMin: number;
  readonly mediaPortMax: number;
}

/** The media agent's environment variables. */
export const MEDIA_ENV = {
  ...nodeEnvShape(DEFAULT_PORTS.media),
  RTC_MEDIA_CAPACITY: envVar.positiveInt(100),
  RTC_PUBLIC_ADDRESS: z.string().min(1).max(256).optional(),
  RTC_MEDIA_PORT_MIN: envVar.port(40_000),
  RTC_MEDIA_PORT_MAX: envVar.port(49_999),
};

type MediaEnv = z.infer<z.ZodObject<typeof MEDIA_ENV>>;

export function toMediaConfig(env: MediaEnv): MediaConfig {
  return {
    ...toNodeConfig(env),
    capacity: env.RTC_MEDIA_CAPACITY,
    publicAddress: env.RTC_PUBLIC_ADDRESS,
    mediaPortMin: env.RTC_MEDIA_PORT_MIN,
    mediaPortMax: env.RTC_MEDIA_PORT_MAX,
  };
}

export const mediaConfigFromEnv = (env: NodeJS.ProcessEnv): EnvResult<MediaConfig> =>
  configFromEnv(MEDIA_ENV, toMediaConfig, env);
