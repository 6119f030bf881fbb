import { execFileSync } from 'node:child_process';
import {
  DEFAULT_TURN_CREDENTIAL_TTL_SECONDS,
  DEFAULT_TURN_PORT,
  TURN_ENV,
  TURN_TLS_HOST_ENV,
  parseEnv,
  turnCredentials,
  turnIceServer,
} from '../../../runtime/contract';

const SECRET = 'a-turn-secret-of-some-length';
const NOW_MS = 1_700_000_000_500;

describe('TURN REST credentials', () => {
  test('the password is base64 HMAC-SHA1 of the username, as openssl computes it', () => {
    // GIVEN credentials  WHEN openssl signs the same username with the same secret
    const { username, credential } = turnCredentials(SECRET, 'alice', NOW_MS);
    const openssl = execFileSync('openssl', ['dgst', '-sha1', '-hmac', SECRET, '-binary'], {
      input: username,
    });
    // THEN both agree
    expect(credential).toBe(openssl.toString('base64'));
  });

  test('a fixed vector, checked by hand with openssl', () => {
    // printf '1700021600:616c696365' | openssl dgst -sha1 -hmac a-turn-secret-of-some-length -binary | base64
    expect(turnCredentials(SECRET, 'alice', NOW_MS)).toEqual({
      username: '1700021600:616c696365',
      credential: 'xS9A7GpSRauY13c2Z6MqgJoQoPI=',
    });
  });

  test('the username starts with the unix expiry: now (whole seconds) plus the TTL', () => {
    const expiry = (ttl?: number) =>
      Number(turnCredentials(SECRET, 'bob', NOW_MS, ttl).username.split(':')[0]);
    expect(expiry()).toBe(1_700_000_000 + DEFAULT_TURN_CREDENTIAL_TTL_SECONDS);
    expect(expiry(60)).toBe(1_700_000_060);
  });

  test("the id goes in hex: coturn's SQL guard never sees 'union' and 'select'", () => {
    const { username } = turnCredentials(SECRET, 'reunion-selection', NOW_MS);
    expect(username.split(':')[1]).toMatch(/^[0-9a-f]+$/);
    expect(Buffer.from(username.split(':')[1], 'hex').toString()).toBe('reunion-selection');
  });

  test.each(['', 'has space', 'x'.repeat(129), 'quote"'])('refuses id %p', (id) => {
    expect(() => turnCredentials(SECRET, id)).toThrow(/id must match/);
  });
});

describe('the ICE server entry of a media node', () => {
  const credentials = turnCredentials(SECRET, 'alice', NOW_MS);

  test('TURN over UDP and TCP on the default port, no TLS without a name', () => {
    expect(turnIceServer({ host: '203.0.113.7' }, credentials)).toEqual({
      urls: ['turn:203.0.113.7:443?transport=udp', 'turn:203.0.113.7:443?transport=tcp'],
      ...credentials,
    });
    expect(DEFAULT_TURN_PORT).toBe(443);
  });

  test('TURN over TLS at the name, {ip} standing for the address with dashes', () => {
    const entry = turnIceServer(
      { host: '203.0.113.7', port: 3478, tlsHost: '{ip}.turn.example.com' },
      credentials,
    );
    expect(entry.urls).toEqual([
      'turn:203.0.113.7:3478?transport=udp',
      'turn:203.0.113.7:3478?transport=tcp',
      'turns:203-0-113-7.turn.example.com:3478?transport=tcp',
    ]);
    expect(turnIceServer({ host: '203.0.113.7', tlsHost: 'turn.example.com' }, credentials).urls[2]).toBe(
      'turns:turn.example.com:443?transport=tcp',
    );
  });

  test('an IPv6 host is bracketed', () => {
    expect(turnIceServer({ host: '2001:db8::7' }, credentials).urls[0]).toBe(
      'turn:[2001:db8::7]:443?transport=udp',
    );
  });
});

describe('the TURN variables', () => {
  const parse = (env: Record<string, string>) => parseEnv({ ...TURN_ENV, ...TURN_TLS_HOST_ENV }, env);

  test('TURN is off without a secret; the port defaults to 443', () => {
    expect(parse({})).toEqual({ ok: true, config: { RTC_TURN_PORT: 443 } });
  });

  test.each([
    ['RTC_TURN_SECRET', 'short', /RTC_TURN_SECRET: must be 16 to 256/],
    ['RTC_TURN_SECRET', 'has a blank in it, long', /RTC_TURN_SECRET: must be 16 to 256/],
    ['RTC_TURN_SECRET', '=starts-with-equals-sign', /not starting with =/],
    ['RTC_TURN_PORT', '0', /RTC_TURN_PORT/],
    ['RTC_TURN_TLS_HOST', 'Turn.Example.com', /RTC_TURN_TLS_HOST: must be a lowercase DNS name/],
    ['RTC_TURN_TLS_HOST', 'turn.{ip}', /RTC_TURN_TLS_HOST/],
  ])('%s=%p is refused, naming the variable', (name, value, problem) => {
    const result = parse({ [name]: value });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toEqual([expect.stringMatching(problem)]);
  });

  test('a base64 secret and a name with {ip} are taken', () => {
    const env = { RTC_TURN_SECRET: 'AbC+/9xyz0123456789==', RTC_TURN_TLS_HOST: 'turn-{ip}.example.com' };
    expect(parse(env)).toEqual({ ok: true, config: { ...env, RTC_TURN_PORT: 443 } });
  });
});
