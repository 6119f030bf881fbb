import { z } from 'zod';
import { DEFAULT_PORTS, EnvResult, ID_PATTERN, envVar, parseEnv } from '../contract';
import { STANDBY_DEFAULTS } from './defaults';

/** Who decides which node holds the service address when the two cannot hear each other. */
export type ArbiterSettings =
  /** On AWS: the Elastic IP's association (one holder; the last AssociateAddress wins). */
  | { readonly kind: 'elastic-ip'; readonly allocationId: string; readonly region: string }
  /** On one machine: a file both nodes can write, standing in for the Elastic IP's association. */
  | { readonly kind: 'file'; readonly path: string };

/** One node of an active-standby pair, as its standby agent and keepalived configuration see it. */
export interface StandbySettings {
  /** This node's name, the one the arbiter records as holder (on AWS: its instance id). */
  readonly node: string;
  /** This node's address on the pair link: VRRP, store replication and the agents' status. */
  readonly address: string;
  readonly peerAddress: string;
  /** The interface VRRP talks on. */
  readonly interface: string;
  /** The preferred node wins elections between equals and, with automatic failback, comes back. */
  readonly preferred: boolean;
  readonly failback: 'automatic' | 'manual';
  readonly preemptDelayS: number;
  readonly virtualRouterId: number;
  /** A virtual IP keepalived moves between the nodes (one machine, a LAN); none on AWS. */
  readonly virtualAddress?: { readonly cidr: string; readonly interface: string };
  readonly arbiter: ArbiterSettings;
  /**
   * Where the peer answers clients (its runtime's /ready seen from the client side): the Elastic IP
   * on AWS, the peer's client-side address on one machine. A node cut off from its peer stays out
   * while the peer serves there.
   */
  readonly peerServiceUrl: string;
  /** The master runtime's port on this node (/live for keepalived, /ready for the peer). */
  readonly runtimePort: number;
  /** `https` when the runtime serves TLS itself (RTC_TLS_PEM): its health routes are https then. */
  readonly runtimeScheme: 'http' | 'https';
  readonly storePort: number;
  readonly storePassword?: string;
  readonly statusPort: number;
  /** The agent's control socket and the track file keepalived reads live here. */
  readonly stateDir: string;
  /** The serve lease the master runtime reads (RTC_SERVE_LEASE_FILE, the same variable). */
  readonly leaseFile: string;
  /**
   * This node's media agent as the registry knows it (its RTC_NODE_ID): the one media registration a
   * new active keeps in its store when it takes over; it removes the others (the old active's).
   */
  readonly mediaNode: string;
  /** The registry's key prefix in the store (RTC_KEY_PREFIX, the same variable as the runtime's). */
  readonly keyPrefix: string;
}

const ipv4 = z.string().ip({ version: 'v4', message: 'must be an IPv4 address' });
const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

/** The agent's environment (docs/topologies.md lists each variable). */
export const STANDBY_ENV = {
  RTC_STANDBY_NODE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -'),
  RTC_STANDBY_ADDRESS: ipv4,
  RTC_STANDBY_PEER_ADDRESS: ipv4,
  /**
   * Both nodes' pair addresses, the preferred first: on AWS both share one settings parameter, and
   * each derives its peer and preference from it (runtime/standby/main.ts).
   */
  RTC_STANDBY_PAIR_ADDRESSES: z
    .string()
    .regex(
      /^\d{1,3}(\.\d{1,3}){3},\d{1,3}(\.\d{1,3}){3}$/,
      'must be two IPv4 addresses, the preferred first: a,b',
    )
    .optional(),
  RTC_STANDBY_INTERFACE: z.string().regex(/^[A-Za-z0-9_.@-]{1,15}$/, 'must be an interface name'),
  RTC_STANDBY_PREFERRED: flag,
  RTC_STANDBY_FAILBACK: z.enum(['automatic', 'manual']).default('automatic'),
  RTC_STANDBY_PREEMPT_DELAY_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000)
    .default(STANDBY_DEFAULTS.preemptDelayS),
  RTC_STANDBY_VRID: z.coerce.number().int().min(1).max(255).default(STANDBY_DEFAULTS.virtualRouterId),
  RTC_STANDBY_VIRTUAL_ADDRESS: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 address with its prefix, e.g. 10.0.0.100/24')
    .optional(),
  RTC_STANDBY_VIRTUAL_INTERFACE: z
    .string()
    .regex(/^[A-Za-z0-9_.@-]{1,15}$/, 'must be an interface name')
    .optional(),
  RTC_STANDBY_ADDRESS_FILE: z.string().startsWith('/', 'must be an absolute path').optional(),
  RTC_STANDBY_EIP_ALLOCATION_ID: z
    .string()
    .regex(/^eipalloc-[0-9a-f]+$/, 'must look like eipalloc-0123abcd')
    .optional(),
  AWS_REGION: z.string().optional(),
  RTC_STANDBY_PEER_SERVICE_URL: z.string().url('must be a URL such as http://203.0.113.7:8080/ready'),
  RTC_STANDBY_RUNTIME_PORT: envVar.port(DEFAULT_PORTS.master),
  RTC_STANDBY_RUNTIME_SCHEME: z.enum(['http', 'https']).default('http'),
  RTC_STANDBY_STORE_PORT: envVar.port(STANDBY_DEFAULTS.storePort),
  RTC_STANDBY_STORE_PASSWORD: z.string().optional(),
  RTC_STANDBY_STATUS_PORT: envVar.port(STANDBY_DEFAULTS.statusPort),
  RTC_STANDBY_DIR: z.string().startsWith('/', 'must be an absolute path').default('/run/rtc-ha-standby'),
  RTC_SERVE_LEASE_FILE: z.string().startsWith('/', 'must be an absolute path'),
  /** Default: RTC_STANDBY_NODE (on AWS both are the instance id). */
  RTC_STANDBY_MEDIA_NODE: z
    .string()
    .regex(ID_PATTERN, "must be the media agent's RTC_NODE_ID: 1-128 characters of A-Z a-z 0-9 _ . -")
    .optional(),
  RTC_KEY_PREFIX: envVar.keyPrefix(),
};

type StandbyEnv = z.infer<z.ZodObject<typeof STANDBY_ENV>>;

/** Parses the agent's environment; every problem at once, each naming its variable. */
export function standbySettingsFromEnv(env: NodeJS.ProcessEnv): EnvResult<StandbySettings> {
  const parsed = parseEnv(STANDBY_ENV, env);
  if (!parsed.ok) return parsed;
  const e = parsed.config;
  const problems = crossFieldProblems(e);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: {
      node: e.RTC_STANDBY_NODE,
      address: e.RTC_STANDBY_ADDRESS,
      peerAddress: e.RTC_STANDBY_PEER_ADDRESS,
      interface: e.RTC_STANDBY_INTERFACE,
      preferred: e.RTC_STANDBY_PREFERRED,
      failback: e.RTC_STANDBY_FAILBACK,
      preemptDelayS: e.RTC_STANDBY_PREEMPT_DELAY_S,
      virtualRouterId: e.RTC_STANDBY_VRID,
      virtualAddress: e.RTC_STANDBY_VIRTUAL_ADDRESS
        ? {
            cidr: e.RTC_STANDBY_VIRTUAL_ADDRESS,
            interface: e.RTC_STANDBY_VIRTUAL_INTERFACE ?? e.RTC_STANDBY_INTERFACE,
          }
        : undefined,
      arbiter: e.RTC_STANDBY_EIP_ALLOCATION_ID
        ? { kind: 'elastic-ip', allocationId: e.RTC_STANDBY_EIP_ALLOCATION_ID, region: e.AWS_REGION! }
        : { kind: 'file', path: e.RTC_STANDBY_ADDRESS_FILE! },
      peerServiceUrl: e.RTC_STANDBY_PEER_SERVICE_URL,
      runtimePort: e.RTC_STANDBY_RUNTIME_PORT,
      runtimeScheme: e.RTC_STANDBY_RUNTIME_SCHEME,
      storePort: e.RTC_STANDBY_STORE_PORT,
      storePassword: e.RTC_STANDBY_STORE_PASSWORD,
      statusPort: e.RTC_STANDBY_STATUS_PORT,
      stateDir: e.RTC_STANDBY_DIR,
      leaseFile: e.RTC_SERVE_LEASE_FILE,
      mediaNode: e.RTC_STANDBY_MEDIA_NODE ?? e.RTC_STANDBY_NODE,
      keyPrefix: e.RTC_KEY_PREFIX,
    },
  };
}

function crossFieldProblems(e: StandbyEnv): string[] {
  const problems: string[] = [];
  const arbiters = [e.RTC_STANDBY_EIP_ALLOCATION_ID, e.RTC_STANDBY_ADDRESS_FILE].filter(Boolean).length;
  if (arbiters !== 1) {
    problems.push(
      'RTC_STANDBY_EIP_ALLOCATION_ID or RTC_STANDBY_ADDRESS_FILE: set exactly one ' +
        '(the Elastic IP on AWS, a shared file on one machine)',
    );
  }
  if (e.RTC_STANDBY_EIP_ALLOCATION_ID && !e.AWS_REGION) {
    problems.push('AWS_REGION: required with RTC_STANDBY_EIP_ALLOCATION_ID');
  }
  if (e.RTC_STANDBY_VIRTUAL_INTERFACE && !e.RTC_STANDBY_VIRTUAL_ADDRESS) {
    problems.push('RTC_STANDBY_VIRTUAL_INTERFACE: set only with RTC_STANDBY_VIRTUAL_ADDRESS');
  }
  if (e.RTC_STANDBY_ADDRESS === e.RTC_STANDBY_PEER_ADDRESS) {
    problems.push(
      'RTC_STANDBY_PEER_ADDRESS: must differ from RTC_STANDBY_ADDRESS (the other node of the pair)',
    );
  }
  return problems;
}

/** The URL of `path` on a node's runtime at `host` (127.0.0.1, or the peer's pair address). */
export function runtimeUrl(settings: StandbySettings, host: string, path: string): string {
  return `${settings.runtimeScheme}://${host}:${settings.runtimePort}${path}`;
}
