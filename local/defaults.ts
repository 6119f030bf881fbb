/** Defaults the local cluster and the tools that talk to it (client CLI, chaos suite) share. */
export const LOCAL_DEFAULTS = {
  /** HAProxy's frontend: signaling (ws://127.0.0.1:8080/ws) and REST (http://127.0.0.1:8080/v1). */
  port: 8080,
  /** HAProxy's stats page. */
  statsPort: 8404,
  /** The runner's web page: a session with video, and the nodes with kill, hang and drain buttons. */
  webPort: 8090,
  /**
   * The REST API secret of a local cluster when RTC_API_SECRET is unset. Everything binds to
   * loopback, so a well-known secret lets `npm run client` find the cluster with no setup; set
   * RTC_API_SECRET for both to use your own.
   */
  apiSecret: 'rtc-ha-local-cluster-secret',
  masters: 3,
  media: 2,
} as const;

/** The API secret from RTC_API_SECRET, or the local default. */
export function localApiSecret(env: NodeJS.ProcessEnv = process.env): string {
  return env.RTC_API_SECRET || LOCAL_DEFAULTS.apiSecret;
}
