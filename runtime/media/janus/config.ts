/**
 * Janus's configuration as a pure function of a small spec: the files `janus -F <configDir>` reads.
 * Janus loads every plugin, transport and logger it finds in its folders, so the configuration
 * points them at private folders that hold only what rtc-ha uses (links into the package's
 * folders): the VideoRoom plugin and the WebSockets transport, which serves the admin API too.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

export interface JanusSpec {
  /** Private folder Janus reads its configuration from (`janus -F`); written by the supervisor. */
  readonly configDir: string;
  /** The Debian package's module folder (plugins/, transports/ below it); see `debianJanusLibDir`. */
  readonly libDir: string;
  /** Janus API over WebSocket, listening on 127.0.0.1 only: the agent is its only client. */
  readonly apiPort: number;
  /** Every Janus API request carries it, so no other local process can drive this Janus. */
  readonly apiSecret: string;
  /** Admin API over WebSocket, on 127.0.0.1 only. */
  readonly adminPort: number;
  readonly adminSecret: string;
  /** UDP range for ICE, RTP and RTCP (the security group opens exactly this range). */
  readonly rtpPortMin: number;
  readonly rtpPortMax: number;
  /**
   * The node's address (or interface name) to gather ICE candidates on. Janus never gathers on
   * loopback, and an enforce list that matches nothing makes it gather on every interface. Janus
   * matches it as a prefix ("10.0.0.1" also takes 10.0.0.12): a node has one such address.
   */
  readonly iceAddress: string;
  /** Public address written into the host candidates: on AWS a media node sits behind a 1:1 NAT. */
  readonly natPublicAddress?: string;
  /** A Janus session without a request for this long is destroyed; the client keeps it alive. */
  readonly sessionTimeoutSeconds: number;
  /** Shown by `info`: which node this Janus belongs to. */
  readonly serverName: string;
  /** Janus's log level, 0 (none) to 7; 4 logs sessions and handles, not packets. */
  readonly logLevel: number;
}

/** What the supervisor writes into `configDir`, every path relative to it. */
export interface JanusConfigFiles {
  /** File name -> content. */
  readonly files: Readonly<Record<string, string>>;
  /** Link -> target: the only modules Janus loads. */
  readonly links: Readonly<Record<string, string>>;
  /** Folders that stay empty: Janus loads no logger (and event handlers are off). */
  readonly emptyDirs: readonly string[];
}

export const VIDEOROOM_PLUGIN = 'janus.plugin.videoroom';
export const WEBSOCKETS_TRANSPORT = 'janus.transport.websockets';

const SECRET = /^[\x21-\x7e]{16,128}$/;

const MODULES = {
  plugins: 'libjanus_videoroom.so',
  transports: 'libjanus_websockets.so',
} as const;

/** Where Debian's `janus` package keeps its modules on this architecture (`process.arch`). */
export function debianJanusLibDir(arch: string = process.arch): string {
  const triplet = arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return `/usr/lib/${triplet}/janus`;
}

/** A fresh secret for one Janus run (the API or the admin secret). */
export function newJanusSecret(): string {
  return randomBytes(24).toString('base64url');
}

/** Every problem of a spec, each naming its field; empty when Janus can run with it. */
export function janusSpecProblems(spec: JanusSpec): string[] {
  const problems: string[] = [];
  const port = (field: 'apiPort' | 'adminPort' | 'rtpPortMin' | 'rtpPortMax') => {
    const value = spec[field];
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      problems.push(`${field}: must be a port (1-65535), got ${value}`);
    }
  };
  port('apiPort');
  port('adminPort');
  port('rtpPortMin');
  port('rtpPortMax');
  if (spec.apiPort === spec.adminPort) problems.push('adminPort: must differ from apiPort');
  if (spec.rtpPortMin > spec.rtpPortMax) {
    problems.push(`rtpPortMin: must not exceed rtpPortMax (${spec.rtpPortMin} > ${spec.rtpPortMax})`);
  }
  for (const field of ['apiSecret', 'adminSecret'] as const) {
    if (!SECRET.test(spec[field]))
      problems.push(`${field}: must be 16-128 printable characters without spaces`);
  }
  if (isLoopback(spec.iceAddress)) {
    problems.push(
      `iceAddress: ${JSON.stringify(spec.iceAddress)} is loopback; Janus never gathers there and then gathers on every interface`,
    );
  }
  if (spec.natPublicAddress !== undefined && isIP(spec.natPublicAddress) === 0) {
    problems.push(`natPublicAddress: must be an IP address, got ${JSON.stringify(spec.natPublicAddress)}`);
  }
  if (!Number.isInteger(spec.sessionTimeoutSeconds) || spec.sessionTimeoutSeconds < 1) {
    problems.push(
      'sessionTimeoutSeconds: must be a positive integer (0 would keep orphaned sessions forever)',
    );
  }
  if (!Number.isInteger(spec.logLevel) || spec.logLevel < 0 || spec.logLevel > 7) {
    problems.push(`logLevel: must be 0-7, got ${spec.logLevel}`);
  }
  return problems;
}

/** The configuration files for `spec`; throws with every problem when the spec is invalid. */
export function janusConfig(spec: JanusSpec): JanusConfigFiles {
  const problems = janusSpecProblems(spec);
  if (problems.length > 0) throw new Error(`invalid Janus spec:\n- ${problems.join('\n- ')}`);
  const dir = spec.configDir;
  const nat: Section = { ice_enforce_list: spec.iceAddress };
  if (spec.natPublicAddress !== undefined) {
    nat.nat_1_1_mapping = spec.natPublicAddress;
    // The private host candidate too: the node's own TURN relay (and a client in the VPC) reaches
    // Janus on it directly, without a hairpin through the internet gateway.
    nat.keep_private_host = true;
  }
  return {
    files: {
      'janus.jcfg': jcfg({
        general: {
          configs_folder: dir,
          plugins_folder: `${dir}/plugins`,
          transports_folder: `${dir}/transports`,
          events_folder: `${dir}/events`,
          loggers_folder: `${dir}/loggers`,
          // Plain lines on stdout: the supervisor turns each into a log event (journald stamps time).
          log_to_stdout: true,
          debug_level: spec.logLevel,
          debug_timestamps: false,
          debug_colors: false,
          server_name: spec.serverName,
          api_secret: spec.apiSecret,
          admin_secret: spec.adminSecret,
          session_timeout: spec.sessionTimeoutSeconds,
          // The agent's socket is the only transport: when it goes, its sessions go with it.
          reclaim_session_timeout: 0,
          hide_dependencies: true,
        },
        media: { rtp_port_range: `${spec.rtpPortMin}-${spec.rtpPortMax}` },
        nat,
        events: { broadcast: false },
      }),
      'janus.transport.websockets.jcfg': jcfg({
        general: {
          json: 'compact',
          ws: true,
          ws_port: spec.apiPort,
          ws_ip: '127.0.0.1',
          wss: false,
        },
        admin: {
          admin_ws: true,
          admin_ws_port: spec.adminPort,
          admin_ws_ip: '127.0.0.1',
          admin_wss: false,
        },
      }),
      // No rooms from the file (the package's sample has two): the agent creates each one.
      // String ids, so a room is named by its rtc-ha session id and a feed by its participant id.
      'janus.plugin.videoroom.jcfg': jcfg({ general: { string_ids: true } }),
    },
    links: Object.fromEntries(
      Object.entries(MODULES).map(([folder, file]) => [
        `${folder}/${file}`,
        `${spec.libDir}/${folder}/${file}`,
      ]),
    ),
    emptyDirs: ['events', 'loggers'],
  };
}

type Value = string | number | boolean;
type Section = Record<string, Value>;

/** libconfig text (Janus's .jcfg format) for sections of scalar settings. */
export function jcfg(sections: Readonly<Record<string, Section>>): string {
  return Object.entries(sections)
    .map(([name, settings]) => {
      const lines = Object.entries(settings).map(([key, value]) => `\t${key} = ${literal(value)}`);
      return `${name}: {\n${lines.join('\n')}\n}\n`;
    })
    .join('\n');
}

function literal(value: Value): string {
  if (typeof value === 'string') return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return String(value);
}

function isLoopback(address: string): boolean {
  return address === 'lo' || address.startsWith('127.') || address === '::1' || address === 'localhost';
}
