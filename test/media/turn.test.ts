// The media node's TURN server: Debian's coturn started by the agent's supervisor on the namespace's
// veth address (a relay on loopback allocates, but ICE through it never completes), driven by a
// TURN client speaking the protocol itself. Credentials come from the contract, as masters make them.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../local/ports';
import { selfSignedCertificate } from '../support/certificate';
import {
  DEFAULT_TURN_CREDENTIAL_TTL_SECONDS,
  DEFAULT_TURN_PORT,
  TURN_RELAY_PORT_RANGE,
  parseTlsPem,
  turnCredentials,
} from '../../runtime/contract';
import { silentLogger } from '../../runtime/node/log';
import { TurnRelay, startTurnRelay } from '../../runtime/media/turn';
import { testNetwork } from '../support/netns';
import { TurnClient, TurnTransport } from '../support/turn-client';

const SECRET = 'turn-test-secret-0123456789';
/** An address in the namespace that is not the node's: no peer the relay may reach. */
const OTHER_ADDRESS = '10.77.0.2';

/** A self-signed certificate and key, as an operator's PEM bundle. */
function selfSignedBundle(): string {
  const { certificate, key } = selfSignedCertificate('turn.test');
  return certificate + key;
}

/** turnserver's UDP and TCP sockets (only the listening ones, or all) as `ss` lists them. */
function sockets(pid: number, which: 'listening' | 'all'): { proto: string; local: string }[] {
  return execFileSync('ss', ['-H', '-tunp', which === 'listening' ? '-l' : '-a'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => {
      const [proto, , , , local] = line.trim().split(/\s+/);
      return { proto, local };
    });
}

/** The relay ports turnserver holds now. */
function relayPorts(pid: number): number[] {
  return sockets(pid, 'all')
    .filter(({ proto }) => proto === 'udp')
    .map(({ local }) => Number(local.slice(local.lastIndexOf(':') + 1)))
    .filter((port) => port >= TURN_RELAY_PORT_RANGE.min && port <= TURN_RELAY_PORT_RANGE.max);
}

describe('TURN on a media node: the real coturn under its supervisor', () => {
  const network = testNetwork();
  const tls = parseTlsPem(selfSignedBundle());
  let relay: TurnRelay;
  const clients: TurnClient[] = [];

  async function connect(transport: TurnTransport): Promise<TurnClient> {
    const client = await TurnClient.connect(transport, network.iceAddress, DEFAULT_TURN_PORT);
    clients.push(client);
    return client;
  }
  const pid = () => relay.pid as number;

  beforeAll(async () => {
    if (!tls.ok) throw new Error(tls.problem);
    relay = await startTurnRelay(
      { secret: SECRET, port: DEFAULT_TURN_PORT, iceAddress: network.iceAddress, tls: tls.tls },
      silentLogger,
    );
    expect(relay.readiness()).toEqual([]);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    const last = relay?.pid;
    await relay?.stop();
    // Nothing left behind: no process, no folder with the secret in it.
    expect(() => process.kill(last as number, 0)).toThrow();
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith('rtc-ha-turn-'))).toEqual([]);
  });

  test('listens on exactly its port, UDP and TCP (TLS on the TCP one), on the ICE address', () => {
    const listening = sockets(pid(), 'listening');
    expect(new Set(listening.map((s) => `${s.proto} ${s.local}`))).toEqual(
      new Set([`udp ${network.iceAddress}:443`, `tcp ${network.iceAddress}:443`]),
    );
  });

  test('its configuration, secret included, is readable by its user only', () => {
    const [dir] = readdirSync(tmpdir()).filter((name) => name.startsWith('rtc-ha-turn-'));
    expect(statSync(join(tmpdir(), dir)).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(join(tmpdir(), dir)).filter(
      (f) => f.endsWith('.conf') || f.endsWith('.pem'),
    )) {
      expect(statSync(join(tmpdir(), dir, file)).mode & 0o777).toBe(0o600);
    }
  });

  test.each<TurnTransport>(['udp', 'tcp', 'tls'])(
    'over %s: allocates a relay on the ICE address, lets it reach the node only, and releases it on Refresh 0',
    async (transport) => {
      const { username, credential } = turnCredentials(SECRET, `alice-${transport}`);
      const client = await connect(transport);
      const allocated = await client.allocate(username, credential);
      expect(allocated.code).toBe(0);
      expect(allocated.relayed?.address).toBe(network.iceAddress);
      const port = allocated.relayed!.port;
      expect(relayPorts(pid())).toContain(port);

      expect((await client.createPermission(network.iceAddress)).code).toBe(0);
      expect((await client.createPermission(OTHER_ADDRESS)).code).toBe(403);

      expect((await client.refresh(0)).code).toBe(0);
      await waitFor(`relay port ${port} released`, () => !relayPorts(pid()).includes(port), 5_000, 100);
    },
  );

  test.each<[string, () => { username: string; credential: string }]>([
    ['a forged credential', () => ({ ...turnCredentials(SECRET, 'mallory'), credential: 'AAAA' })],
    [
      'a credential signed with another secret',
      () => turnCredentials('another-secret-0123456789', 'mallory'),
    ],
    [
      'an expired credential',
      () =>
        turnCredentials(SECRET, 'mallory', Date.now() - (DEFAULT_TURN_CREDENTIAL_TTL_SECONDS + 60) * 1000),
    ],
  ])('refuses %s and allocates nothing', async (_, credentials) => {
    const before = relayPorts(pid());
    const { username, credential } = credentials();
    const refused = await (await connect('udp')).allocate(username, credential);
    expect(refused.code).toBe(401);
    expect(refused.relayed).toBeUndefined();
    expect(relayPorts(pid())).toEqual(before);
  });

  test('a SIGKILLed turnserver is restarted and takes allocations again', async () => {
    const killed = pid();
    process.kill(killed, 'SIGKILL');
    await waitFor('the supervisor to see it down', () => relay.readiness().length > 0);
    expect(relay.readiness()).toEqual([
      expect.stringMatching(/^turn down \(restarting\): turnserver SIGKILL/),
    ]);
    await waitFor('a new turnserver up', () => relay.pid !== killed && relay.readiness().length === 0);

    const { username, credential } = turnCredentials(SECRET, 'alice');
    const client = await connect('udp');
    expect((await client.allocate(username, credential)).code).toBe(0);
    expect((await client.refresh(0)).code).toBe(0);
  });
});
