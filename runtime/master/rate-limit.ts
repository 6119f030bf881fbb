import { BlockList, isIPv6 } from 'node:net';

export interface RateLimitOptions {
  /** What a key may spend at once. */
  readonly burst: number;
  /** What a key gets back per second, up to `burst`. */
  readonly perSecond: number;
  /** Keys kept at most; when full, the key idle longest is forgotten (its next take starts full). */
  readonly maxKeys: number;
}

/**
 * Token buckets keyed by a string (a client address, a participant). Memory stays bounded
 * whatever a client sends: a key moves to the end of the map whenever it spends, so the first key
 * is the one idle longest, and that is the one dropped when the map is full.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends one token of `key`; false when it has none left. */
  take(key: string): boolean {
    const { burst, perSecond, maxKeys } = this.options;
    const now = this.now();
    const bucket = this.buckets.get(key);
    let tokens = burst;
    if (bucket) {
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1_000);
      this.buckets.delete(key);
    } else if (this.buckets.size >= maxKeys) {
      this.buckets.delete(this.buckets.keys().next().value as string);
    }
    const allowed = tokens >= 1;
    this.buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed;
  }

  get size(): number {
    return this.buckets.size;
  }
}

// A proxy in front of a master (the ALB in the VPC, HAProxy on the same machine) connects from one
// of these; only such a peer's X-Forwarded-For is believed. A client reaching a master directly
// from anywhere else cannot pick the address it is limited under.
const PROXY_PEERS = new BlockList();
for (const [net, bits] of [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['127.0.0.0', 8],
] as const) {
  PROXY_PEERS.addSubnet(net, bits, 'ipv4');
}
PROXY_PEERS.addSubnet('fc00::', 7, 'ipv6');
PROXY_PEERS.addAddress('::1', 'ipv6');

/**
 * The client address a request came from: the last X-Forwarded-For entry (the one the proxy
 * appended; earlier ones are the client's to forge) when the peer is a proxy, else the peer.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
  const direct = unmapped(peer ?? '');
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  if (!header || !isProxyPeer(direct)) return direct;
  return unmapped(header.split(',').pop()!.trim()) || direct;
}

/** Loopback: the machine itself (benchmarks, the local cluster); never rate-limited. */
export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/**
 * The key an address is limited under: IPv6 by its /64 (one host usually holds a whole /64, so
 * per-address buckets would be free to multiply), IPv4 as it is.
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function isProxyPeer(address: string): boolean {
  if (isIPv6(address)) return PROXY_PEERS.check(address, 'ipv6');
  return address !== '' && PROXY_PEERS.check(address, 'ipv4');
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
