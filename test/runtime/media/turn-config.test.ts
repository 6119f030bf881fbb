import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTlsPem } from '../../../runtime/contract';
import { mediaConfigFromEnv } from '../../../runtime/media/config';
import { TURN_USER_QUOTA, TurnSpec, turnConfig } from '../../../runtime/media/turn';

/** A self-signed certificate and its key, as openssl writes them; and a second, unrelated key. */
function pems(): { certificate: string; key: string; otherKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'turn-pem-'));
  try {
    const [cert, key, other] = ['cert.pem', 'key.pem', 'other.pem'].map((name) => join(dir, name));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    execFileSync(
      'openssl',
      ['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=turn.test'],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      other,
    ]);
    return {
      certificate: readFileSync(cert, 'utf8'),
      key: readFileSync(key, 'utf8'),
      otherKey: readFileSync(other, 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { certificate, key, otherKey } = pems();

const SPEC: TurnSpec = {
  configDir: '/run/x/turn',
  secret: 'a-turn-secret-of-some-length',
  port: 443,
  iceAddress: '10.0.1.5',
  publicAddress: '203.0.113.7',
};

/** The configuration's `key=value` lines (and bare flags) as [key, value] pairs. */
function settings(spec: TurnSpec): [string, string][] {
  return turnConfig(spec)
    ['turnserver.conf'].split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      return at < 0 ? [line, ''] : [line.slice(0, at), line.slice(at + 1)];
    });
}
const values = (spec: TurnSpec, key: string) =>
  settings(spec)
    .filter(([k]) => k === key)
    .map(([, v]) => v);

describe('coturn configuration', () => {
  test('REST auth with the secret, one port for UDP, TCP and TLS, on the ICE address only', () => {
    const conf = new Map(settings(SPEC));
    expect(Object.fromEntries(conf)).toMatchObject({
      'use-auth-secret': '',
      'static-auth-secret': SPEC.secret,
      'listening-ip': '10.0.1.5',
      'relay-ip': '10.0.1.5',
      'listening-port': '443',
      'tls-listening-port': '443',
      'min-port': '50000',
      'max-port': '59999',
      'user-quota': String(TURN_USER_QUOTA),
      userdb: ':memory:',
      'no-cli': '',
      'no-tcp-relay': '',
      'no-dtls': '',
      'no-multicast-peers': '',
      fingerprint: '',
      'log-file': 'stdout',
      pidfile: '/run/x/turn/turnserver.pid',
    });
    // Without a certificate, no TLS; no user switch unless asked.
    expect(conf.has('no-tls')).toBe(true);
    expect(conf.has('proc-user')).toBe(false);
    expect(conf.has('external-ip')).toBe(false);
  });

  test('no open relay: every peer denied but the node itself', () => {
    expect(values(SPEC, 'denied-peer-ip')).toEqual([
      '0.0.0.0-255.255.255.255',
      '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ]);
    expect(values(SPEC, 'allowed-peer-ip')).toEqual(['10.0.1.5', '203.0.113.7']);
    expect(values({ ...SPEC, publicAddress: undefined }, 'allowed-peer-ip')).toEqual(['10.0.1.5']);
  });

  test('TLS: the certificate and key as files beside it; old TLS versions off', () => {
    const files = turnConfig({ ...SPEC, tls: { certificateChain: 'CHAIN', privateKey: 'KEY' } });
    expect(files).toMatchObject({ 'cert.pem': 'CHAIN', 'key.pem': 'KEY' });
    const conf = settings({ ...SPEC, tls: { certificateChain: 'CHAIN', privateKey: 'KEY' } });
    expect(conf).toEqual(
      expect.arrayContaining([
        ['cert', '/run/x/turn/cert.pem'],
        ['pkey', '/run/x/turn/key.pem'],
        ['no-tlsv1', ''],
        ['no-tlsv1_1', ''],
      ]),
    );
    expect(conf.map(([k]) => k)).not.toContain('no-tls');
  });

  test('an agent running as root has coturn drop to the given user after binding', () => {
    const conf = settings({ ...SPEC, runAs: { user: 'nobody', group: 'nogroup' } });
    expect(conf).toEqual(
      expect.arrayContaining([
        ['proc-user', 'nobody'],
        ['proc-group', 'nogroup'],
      ]),
    );
  });
});

describe('the TLS PEM bundle', () => {
  test('certificate and key in either order', () => {
    for (const bundle of [`${certificate}${key}`, `${key}\n${certificate}`]) {
      expect(parseTlsPem(bundle)).toEqual({
        ok: true,
        tls: { certificateChain: certificate, privateKey: key },
      });
    }
  });

  test.each([
    ['no key', () => certificate, /found 1 certificates and 0 keys/],
    ['no certificate', () => key, /found 0 certificates and 1 keys/],
    ['two keys', () => certificate + key + otherKey, /found 1 certificates and 2 keys/],
    ["another certificate's key", () => certificate + otherKey, /not the first certificate's/],
  ])('refuses %s', (_, bundle, problem) => {
    expect(parseTlsPem(bundle())).toEqual({ ok: false, problem: expect.stringMatching(problem) });
  });
});

describe('the media config', () => {
  const base = {
    RTC_REDIS_URL: 'redis://r:6379',
    RTC_MEDIA_ICE_ADDRESS: '10.0.1.5',
    RTC_PUBLIC_ADDRESS: '203.0.113.7',
    RTC_MEDIA_CONTROL_SECRET: 'a-control-secret-long-enough',
  };
  const turnOf = (env: Record<string, string>) => {
    const result = mediaConfigFromEnv({ ...base, ...env });
    if (!result.ok) throw new Error(result.problems.join('; '));
    return result.config.turn;
  };
  const problemsOf = (env: Record<string, string>) => {
    const result = mediaConfigFromEnv({ ...base, ...env });
    return result.ok ? [] : result.problems;
  };

  test('TURN runs iff RTC_TURN_SECRET is set and Janus runs, on port 443 by default', () => {
    expect(turnOf({})).toBeUndefined();
    expect(turnOf({ RTC_TURN_SECRET: SPEC.secret, RTC_JANUS: 'off' })).toBeUndefined();
    expect(turnOf({ RTC_TURN_SECRET: SPEC.secret })).toEqual({
      secret: SPEC.secret,
      port: 443,
      iceAddress: '10.0.1.5',
      publicAddress: '203.0.113.7',
      tls: undefined,
    });
  });

  test('the port, the TLS bundle, and a public name that is no peer address', () => {
    const turn = turnOf({
      RTC_TURN_SECRET: SPEC.secret,
      RTC_TURN_PORT: '3478',
      RTC_TURN_TLS_PEM: certificate + key,
      RTC_PUBLIC_ADDRESS: 'media.example.com',
    });
    expect(turn).toMatchObject({ port: 3478, publicAddress: undefined, tls: { privateKey: key } });
  });

  test.each<[string, Record<string, string>, RegExp]>([
    ['a bad bundle', { RTC_TURN_TLS_PEM: certificate }, /^RTC_TURN_TLS_PEM: must hold PEM certificates/],
    ['the control port', { RTC_TURN_PORT: '9090' }, /^RTC_TURN_PORT: must differ from RTC_PORT \(9090\)/],
    ['a media port', { RTC_TURN_PORT: '40000' }, /^RTC_TURN_PORT: must lie outside Janus's media ports/],
    [
      'a relay port',
      { RTC_TURN_PORT: '50000' },
      /^RTC_TURN_PORT: must lie outside TURN's relay ports 50000-59999/,
    ],
    [
      'a media range over the relays',
      { RTC_MEDIA_PORT_MAX: '50000' },
      /^RTC_MEDIA_PORT_MIN: .* must not overlap TURN's relay ports/,
    ],
  ])('refuses %s, naming the variable', (_, env, problem) => {
    expect(problemsOf({ RTC_TURN_SECRET: SPEC.secret, ...env })).toEqual([expect.stringMatching(problem)]);
  });

  test('without TURN, the relay range is free for media', () => {
    expect(problemsOf({ RTC_MEDIA_PORT_MAX: '50000' })).toEqual([]);
  });
});
