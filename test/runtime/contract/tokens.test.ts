import {
  newResumeToken,
  parseResumeToken,
  signConnectionToken,
  tokenKeyFrom,
  verifyConnectionToken,
} from '../../../runtime/contract';

const key = tokenKeyFrom('a-very-long-api-secret');
const claims = { sessionId: 'room.1', participantId: 'alice', expiresAt: Date.now() + 60_000 };

describe('connection tokens', () => {
  test('a signed token verifies and carries its scope', () => {
    expect(verifyConnectionToken(key, signConnectionToken(key, claims))).toEqual({ ok: true, claims });
  });
  test('a token signed with another key is forged', () => {
    const forged = signConnectionToken(tokenKeyFrom('another-api-secret-here'), claims);
    expect(verifyConnectionToken(key, forged)).toEqual({ ok: false, reason: 'bad_signature' });
  });
  test('a token whose payload was edited is forged', () => {
    const [v, , mac] = signConnectionToken(key, claims).split('.');
    const edited = Buffer.from(
      JSON.stringify({ sid: 'room.1', pid: 'mallory', exp: claims.expiresAt }),
    ).toString('base64url');
    expect(verifyConnectionToken(key, `${v}.${edited}.${mac}`)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
  test('an expired token is refused', () => {
    const token = signConnectionToken(key, { ...claims, expiresAt: 1000 });
    expect(verifyConnectionToken(key, token)).toEqual({ ok: false, reason: 'expired' });
  });
  test.each([undefined, 42, '', 'v1.abc', 'v2.a.b', 'x'.repeat(5000)])(
    'malformed token %p is refused',
    (token) => {
      expect(verifyConnectionToken(key, token)).toEqual({ ok: false, reason: 'malformed' });
    },
  );
});

describe('resume tokens', () => {
  test('round-trip: the parsed hash matches the stored one, and ids with dots survive', () => {
    const t = newResumeToken('room.1', 'a.b');
    expect(parseResumeToken(t.token)).toEqual({ sessionId: 'room.1', participantId: 'a.b', hash: t.hash });
    expect(newResumeToken('room.1', 'a.b').hash).not.toBe(t.hash);
  });
  test.each([
    undefined,
    '',
    'abc',
    'a.b.c',
    `${Buffer.from('{"sid":"x y","pid":"p"}').toString('base64url')}.${'A'.repeat(43)}`,
  ])('garbage %p is not a resume token', (token) => expect(parseResumeToken(token)).toBeUndefined());
});
