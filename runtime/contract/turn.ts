/**
 * TURN on the media nodes (coturn, shared-secret REST authentication): the credentials masters hand
 * each participant and the ICE server entry a client needs for one media node. Node only (HMAC):
 * the browser SDK imports the entry's type, never this module's code.
 */
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { envVar } from './env';
import { ID_PATTERN } from './keys';

/** TURN's port on every media node, UDP and TCP, TLS on the same TCP port: 443 passes most firewalls. */
export const DEFAULT_TURN_PORT = 443;

/**
 * The UDP ports coturn relays from (`min-port`/`max-port`): outside DEFAULT_MEDIA_PORT_RANGE, and
 * never open to clients, since a relay's only peer is Janus on the same node.
 */
export const TURN_RELAY_PORT_RANGE = { min: 50_000, max: 59_999 } as const;

/**
 * How long TURN credentials are accepted. coturn checks a REST username's expiry only when it
 * derives the key, on an allocation's first authenticated request: Refresh, CreatePermission and
 * ChannelBind are checked against the key it keeps for the allocation, and REST credentials set no
 * session time limit (coturn 4.6.1 src/server/ns_turn_server.c check_stun_auth, hmackey_set;
 * src/apps/relay/userdb.c get_user_key, where only oAuth sets max_session_time). So an allocation
 * outlives its credentials while the client refreshes it, and the TTL only has to cover new
 * allocations: the ICE gathering after a join, resume or media move (each brings fresh credentials),
 * and any ICE restart of a call without one. Six hours covers a working session's restarts; a leaked
 * credential stops working the same day, and it reaches only the node's own Janus anyway.
 */
export const DEFAULT_TURN_CREDENTIAL_TTL_SECONDS = 6 * 60 * 60;

/** A TURN REST API username and password. */
export interface TurnCredentials {
  /** `<unix expiry>:<id in hex>`. */
  readonly username: string;
  /** base64(HMAC-SHA1(secret, username)). */
  readonly credential: string;
}

/** What a client puts into its RTCConfiguration's `iceServers` for one media node. */
export interface TurnIceServer {
  readonly urls: string[];
  readonly username: string;
  readonly credential: string;
}

/** Where a media node's TURN server is reached. */
export interface TurnEndpoint {
  /** The node's public address (an IPv4 on AWS). */
  readonly host: string;
  /** @default DEFAULT_TURN_PORT */
  readonly port?: number;
  /**
   * The name the node's TLS certificate covers, for `turns:`; `{ip}` in it stands for `host` with
   * dashes for dots (`{ip}.turn.example.com` -> `203-0-113-7.turn.example.com`).
   *
   * @default - no `turns:` URL (the node runs TURN without TLS)
   */
  readonly tlsHost?: string;
}

/** A TLS host name as TurnEndpoint.tlsHost takes it: a lowercase DNS name whose labels may hold `{ip}`. */
export const TURN_TLS_HOST_PATTERN = /^((?:[a-z0-9-]|\{ip\})+\.)+[a-z][a-z0-9-]*[a-z0-9]$/;

/** The shared secret goes into coturn's configuration file, where blanks, quotes or a leading `=` break it. */
export const TURN_SECRET_PATTERN = /^[A-Za-z0-9_.~+/-][A-Za-z0-9_.~+/=-]{15,255}$/;

/** The TURN variables masters and media agents both read; TURN is on while RTC_TURN_SECRET is set. */
export const TURN_ENV = {
  RTC_TURN_SECRET: z
    .string()
    .regex(TURN_SECRET_PATTERN, 'must be 16 to 256 of A-Z a-z 0-9 _ . ~ + / - = (not starting with =)')
    .optional(),
  RTC_TURN_PORT: envVar.port(DEFAULT_TURN_PORT),
};

/** Masters only: the name clients reach a media node's TURN over TLS at (TurnEndpoint.tlsHost). */
export const TURN_TLS_HOST_ENV = {
  RTC_TURN_TLS_HOST: z
    .string()
    .regex(TURN_TLS_HOST_PATTERN, "must be a lowercase DNS name; {ip} stands for the node's public IPv4")
    .optional(),
};

/**
 * Credentials for `id` (a participant), valid `ttlSeconds` from `nowMs`. The id goes into the
 * username in hex: coturn refuses usernames holding both "union" and "select" (its SQL guard,
 * is_secure_string), and hex spells neither.
 */
export function turnCredentials(
  secret: string,
  id: string,
  nowMs = Date.now(),
  ttlSeconds = DEFAULT_TURN_CREDENTIAL_TTL_SECONDS,
): TurnCredentials {
  if (!ID_PATTERN.test(id)) throw new Error(`TURN credentials: id must match ${ID_PATTERN} (got "${id}")`);
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiry}:${Buffer.from(id).toString('hex')}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/** The ICE server entry for one media node: TURN over UDP and TCP, and over TLS when it has a name. */
export function turnIceServer(endpoint: TurnEndpoint, credentials: TurnCredentials): TurnIceServer {
  const port = endpoint.port ?? DEFAULT_TURN_PORT;
  const urls = [
    `turn:${hostPort(endpoint.host, port)}?transport=udp`,
    `turn:${hostPort(endpoint.host, port)}?transport=tcp`,
  ];
  if (endpoint.tlsHost !== undefined) {
    const tlsHost = endpoint.tlsHost.replaceAll('{ip}', endpoint.host.replaceAll('.', '-'));
    urls.push(`turns:${hostPort(tlsHost, port)}?transport=tcp`);
  }
  return { urls, ...credentials };
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
