/**
 * coturn's configuration as a pure function of a small spec: the files `turnserver -c` reads. A
 * relay for this node's Janus only: shared-secret REST credentials, one port for UDP, TCP and TLS,
 * relays on the node's ICE address, and no peer but the node itself.
 */
import { join } from 'node:path';
import type { TlsPem } from '../../contract/tls';
import { TURN_RELAY_PORT_RANGE } from '../../contract/turn';

/** What a media node's TURN server is made of: the media config's `turn` (../config.ts), a folder and a user. */
export interface TurnSpec {
  /** Private folder for the configuration file and the TLS files; written by the supervisor. */
  readonly configDir: string;
  /** The REST API secret the masters sign credentials with (RTC_TURN_SECRET). */
  readonly secret: string;
  /** UDP and TCP port, TLS on the TCP one too. */
  readonly port: number;
  /**
   * The node's ICE address (its private IPv4 on AWS): coturn listens and relays there. Never
   * loopback: ICE through a relay on loopback never completes, as Janus gathers no loopback candidate.
   */
  readonly iceAddress: string;
  /** Janus's public address (its 1:1 NAT mapping): relayed media goes there too. */
  readonly publicAddress?: string;
  /** The PEM certificate chain and private key, for TLS on `port` (RTC_TURN_TLS_PEM). */
  readonly tls?: TlsPem;
  /** An agent running as root: coturn binds its port, then becomes this user (`proc-user`). */
  readonly runAs?: { readonly user: string; readonly group: string };
}

/** What the supervisor writes into `configDir`: file name -> content. */
export type TurnConfigFiles = Readonly<Record<string, string>>;

export const TURN_CONFIG_FILE = 'turnserver.conf';
/** coturn writes its pid here rather than into /var/run, which the agent's unit cannot write. */
export const TURN_PID_FILE = 'turnserver.pid';
const CERTIFICATE_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';

/** Clients take the realm from the 401 challenge; it is part of the long-term key. */
export const TURN_REALM = 'rtc-ha';

/**
 * Allocations one credential (one participant) may hold: one per TURN URL (3) and local interface
 * for each of its peer connections, one per feed it publishes or subscribes to. 500 covers ~80 feeds
 * over two interfaces, and keeps a leaked credential to 5 % of the relay ports.
 */
export const TURN_USER_QUOTA = 500;

/** Every IPv4 and IPv6 address: denied as a peer, but for the node's own addresses. */
const EVERY_ADDRESS = ['0.0.0.0-255.255.255.255', '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'];

/**
 * The files for `turnserver -c <configDir>/turnserver.conf`. No `external-ip`: the relayed
 * address stays the private one, which Janus on the same node reaches without the security group
 * (the relay ports are open to no one).
 */
export function turnConfig(spec: TurnSpec): TurnConfigFiles {
  const peers = [...new Set([spec.iceAddress, spec.publicAddress ?? spec.iceAddress])];
  const lines = [
    '# Written by the rtc-ha media agent at each start (runtime/media/turn/config.ts).',
    `listening-ip=${spec.iceAddress}`,
    `relay-ip=${spec.iceAddress}`,
    `listening-port=${spec.port}`,
    // The same port: coturn then opens no TLS listener of its own and tells a TLS ClientHello
    // from plain TURN by the first bytes on its TCP port.
    `tls-listening-port=${spec.port}`,
    `min-port=${TURN_RELAY_PORT_RANGE.min}`,
    `max-port=${TURN_RELAY_PORT_RANGE.max}`,
    `realm=${TURN_REALM}`,
    'use-auth-secret',
    `static-auth-secret=${spec.secret}`,
    // A database with no file: the shared secret needs none, and the package's default
    // (/var/lib/turn/turndb) is not readable by the agent's user, which fails every login.
    'userdb=:memory:',
    `user-quota=${TURN_USER_QUOTA}`,
    'fingerprint',
    'no-multicast-peers',
    ...EVERY_ADDRESS.map((range) => `denied-peer-ip=${range}`),
    ...peers.map((address) => `allowed-peer-ip=${address}`),
    // Browsers relay UDP only (no TURN-TCP allocations), and speak no DTLS to a TURN server.
    'no-tcp-relay',
    'no-dtls',
    // No second address for NAT discovery, no telnet CLI (port 5766), no version in responses.
    'no-rfc5780',
    'no-cli',
    'no-software-attribute',
    ...(spec.tls
      ? [
          `cert=${join(spec.configDir, CERTIFICATE_FILE)}`,
          `pkey=${join(spec.configDir, KEY_FILE)}`,
          'no-tlsv1',
          'no-tlsv1_1',
        ]
      : ['no-tls']),
    // To the agent, which logs each line; no log file.
    'log-file=stdout',
    'simple-log',
    `pidfile=${join(spec.configDir, TURN_PID_FILE)}`,
    ...(spec.runAs ? [`proc-user=${spec.runAs.user}`, `proc-group=${spec.runAs.group}`] : []),
  ];
  return {
    [TURN_CONFIG_FILE]: `${lines.join('\n')}\n`,
    ...(spec.tls ? { [CERTIFICATE_FILE]: spec.tls.certificateChain, [KEY_FILE]: spec.tls.privateKey } : {}),
  };
}
