/**
 * A small TURN client (RFC 8656 over RFC 8489 STUN) for tests against the real coturn: Allocate,
 * Refresh and CreatePermission over UDP, TCP or TLS, with long-term credentials (the 401 challenge
 * gives realm and nonce; MESSAGE-INTEGRITY is HMAC-SHA1 keyed with MD5(user:realm:password)).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as tls from 'node:tls';

export type TurnTransport = 'udp' | 'tcp' | 'tls';

const MAGIC = 0x2112a442;
const METHOD = { allocate: 0x003, refresh: 0x004, createPermission: 0x008 } as const;
const ATTR = {
  username: 0x0006,
  integrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  peer: 0x0012,
  realm: 0x0014,
  nonce: 0x0015,
  relayed: 0x0016,
  transport: 0x0019,
} as const;
const SUCCESS = 0x0100;
const ERROR = 0x0110;

export interface StunReply {
  /** 0 for a success response, else the ERROR-CODE (401, 403, 438...). */
  readonly code: number;
  readonly attrs: Map<number, Buffer>;
}

export interface Address {
  readonly address: string;
  readonly port: number;
}

/** One client transport (one 5-tuple: one allocation at most), requests answered one at a time. */
export class TurnClient {
  private auth?: { username: string; key: Buffer; realm: Buffer; nonce: Buffer };
  private pending?: { tid: Buffer; resolve: (reply: StunReply) => void };
  private buffered = Buffer.alloc(0);

  private constructor(
    private readonly send: (message: Buffer) => void,
    private readonly end: () => void,
  ) {}

  static async connect(transport: TurnTransport, host: string, port: number): Promise<TurnClient> {
    if (transport === 'udp') {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.connect(port, host, resolve));
      const client = new TurnClient(
        (m) => socket.send(m),
        () => socket.close(),
      );
      socket.on('message', (m) => client.received(m));
      return client;
    }
    // The tests' certificate is self-signed: what is under test is coturn taking TLS on its port.
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s: net.Socket =
        transport === 'tls'
          ? tls.connect({ host, port, rejectUnauthorized: false }, () => resolve(s))
          : net.connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new TurnClient(
      (m) => socket.write(m),
      () => socket.destroy(),
    );
    socket.on('data', (chunk) => client.stream(chunk));
    return client;
  }

  /** Allocate a UDP relay with long-term credentials; the relayed address on success. */
  async allocate(username: string, password: string): Promise<StunReply & { relayed?: Address }> {
    const transport = Buffer.from([17, 0, 0, 0]);
    const challenge = await this.request(METHOD.allocate, [[ATTR.transport, transport]], false);
    if (challenge.code !== 401) return challenge;
    const realm = challenge.attrs.get(ATTR.realm) as Buffer;
    const key = createHash('md5').update(`${username}:${realm}:${password}`).digest();
    this.auth = { username, key, realm, nonce: challenge.attrs.get(ATTR.nonce) as Buffer };
    const reply = await this.request(METHOD.allocate, [[ATTR.transport, transport]]);
    const relayed = reply.attrs.get(ATTR.relayed);
    return { ...reply, relayed: relayed && xorAddress(relayed) };
  }

  /** Refresh the allocation; lifetime 0 deletes it. */
  refresh(lifetimeSeconds: number): Promise<StunReply> {
    const lifetime = Buffer.alloc(4);
    lifetime.writeUInt32BE(lifetimeSeconds);
    return this.request(METHOD.refresh, [[ATTR.lifetime, lifetime]]);
  }

  createPermission(peer: string): Promise<StunReply> {
    return this.request(METHOD.createPermission, [[ATTR.peer, xorAddressValue(peer, 0)]]);
  }

  close(): void {
    this.end();
  }

  /** Sends one request (signed once authenticated) and waits for its reply; a stale nonce is retried once. */
  private async request(
    method: number,
    attrs: [number, Buffer][],
    sign = true,
    retry = true,
  ): Promise<StunReply> {
    const tid = randomBytes(12);
    const reply = await new Promise<StunReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no TURN reply to method ${method} within 3 s`)),
        3_000,
      );
      this.pending = { tid, resolve: (r) => (clearTimeout(timer), resolve(r)) };
      this.send(encode(method, tid, attrs, sign ? this.auth : undefined));
    });
    if (reply.code === 438 && retry && this.auth) {
      this.auth.nonce = reply.attrs.get(ATTR.nonce) as Buffer;
      return this.request(method, attrs, sign, false);
    }
    return reply;
  }

  /** TCP and TLS carry messages back to back: split them by their header's length. */
  private stream(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 20 && this.buffered.length >= 20 + this.buffered.readUInt16BE(2)) {
      const size = 20 + this.buffered.readUInt16BE(2);
      this.received(this.buffered.subarray(0, size));
      this.buffered = this.buffered.subarray(size);
    }
  }

  private received(message: Buffer): void {
    const pending = this.pending;
    if (!pending || !message.subarray(8, 20).equals(pending.tid)) return;
    const attrs = new Map<number, Buffer>();
    for (let at = 20; at + 4 <= message.length;) {
      const length = message.readUInt16BE(at + 2);
      attrs.set(message.readUInt16BE(at), message.subarray(at + 4, at + 4 + length));
      at += 4 + Math.ceil(length / 4) * 4;
    }
    const error = attrs.get(ATTR.errorCode);
    const cls = message.readUInt16BE(0) & 0x0110;
    const code = cls === SUCCESS ? 0 : cls === ERROR && error ? (error[2] & 7) * 100 + error[3] : -1;
    this.pending = undefined;
    pending.resolve({ code, attrs });
  }
}

/** A STUN message; with `auth`, USERNAME, REALM, NONCE and a MESSAGE-INTEGRITY over all of it. */
function encode(method: number, tid: Buffer, attrs: [number, Buffer][], auth?: TurnClient['auth']): Buffer {
  const all: [number, Buffer][] = auth
    ? [
        ...attrs,
        [ATTR.username, Buffer.from(auth.username)],
        [ATTR.realm, auth.realm],
        [ATTR.nonce, auth.nonce],
      ]
    : attrs;
  const body = Buffer.concat(all.map(([type, value]) => attribute(type, value)));
  const header = Buffer.alloc(20);
  header.writeUInt16BE(method, 0);
  header.writeUInt32BE(MAGIC, 4);
  tid.copy(header, 8);
  if (!auth) return Buffer.concat([lengthened(header, body.length), body]);
  // The integrity covers the header with a length that already counts its own 24 bytes.
  const signed = Buffer.concat([lengthened(header, body.length + 24), body]);
  const mac = createHmac('sha1', auth.key).update(signed).digest();
  return Buffer.concat([signed, attribute(ATTR.integrity, mac)]);
}

function lengthened(header: Buffer, length: number): Buffer {
  header.writeUInt16BE(length, 2);
  return header;
}

function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** An XOR-*-ADDRESS value for an IPv4 address. */
function xorAddressValue(address: string, port: number): Buffer {
  const value = Buffer.alloc(8);
  value.writeUInt16BE(0x0001, 0);
  value.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const ip = address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  value.writeUInt32BE((ip ^ MAGIC) >>> 0, 4);
  return value;
}

function xorAddress(value: Buffer): Address {
  const ip = (value.readUInt32BE(4) ^ MAGIC) >>> 0;
  return {
    address: [24, 16, 8, 0].map((shift) => (ip >>> shift) & 255).join('.'),
    port: value.readUInt16BE(2) ^ (MAGIC >>> 16),
  };
}
