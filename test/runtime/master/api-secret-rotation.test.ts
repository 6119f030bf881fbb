import { signConnectionToken, tokenKeyFrom, verifyConnectionToken } from '../../../runtime/contract';
import type { MasterHandle } from '../../../runtime/master/master';
import { Api, FakeMediaNode, TestRegistry, startRegistry, startTestMaster } from './support/harness';
import { TestSocket } from './support/ws-client';

/**
 * A rolling API secret rotation (docs/deploying.md, "Rotating the API secret"): old masters know
 * only the old secret, new masters the new one and the previous one.
 */
const OLD = 'old-api-secret-0123456789';
const NEW = 'new-api-secret-0123456789';
const UNKNOWN = 'unknown-api-secret-0123456789';

describe('verifyConnectionToken with several keys', () => {
  const claims = { sessionId: 's', participantId: 'p', expiresAt: Date.now() + 60_000 };
  const keys = [tokenKeyFrom(NEW), tokenKeyFrom(OLD)];

  test('GIVEN a token under either secret THEN it verifies; under another secret THEN bad_signature', () => {
    for (const secret of [NEW, OLD]) {
      expect(verifyConnectionToken(keys, signConnectionToken(tokenKeyFrom(secret), claims))).toEqual({
        ok: true,
        claims,
      });
    }
    expect(verifyConnectionToken(keys, signConnectionToken(tokenKeyFrom(UNKNOWN), claims))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyConnectionToken([], signConnectionToken(tokenKeyFrom(NEW), claims))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('masters during a rotation', () => {
  let registry: TestRegistry;
  let oldMaster: MasterHandle;
  let newMaster: MasterHandle;
  let media: FakeMediaNode;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    media = await new FakeMediaNode(registry.redis, 'media-rotation').start();
    oldMaster = await startTestMaster(registry.server.url, { apiSecret: OLD });
    newMaster = await startTestMaster(registry.server.url, { apiSecret: NEW, previousApiSecret: OLD });
  });
  afterAll(async () => {
    media.stop();
    await Promise.all([oldMaster.close(), newMaster.close()]);
    await registry.stop();
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.terminate()));

  async function joins(on: MasterHandle, token: string): Promise<string> {
    const s = await TestSocket.open(on.url);
    sockets.push(s);
    s.send({ type: 'join', token });
    return (await s.next((f) => f.type === 'joined' || f.type === 'error')).type as string;
  }

  test('GIVEN the new master THEN REST takes the new and the previous secret, and no other', async () => {
    expect((await new Api(newMaster.url, NEW).call('GET', '/v1/sessions/none')).status).toBe(404);
    expect((await new Api(newMaster.url, OLD).call('GET', '/v1/sessions/none')).status).toBe(404);
    const refused = await new Api(newMaster.url, UNKNOWN).call('GET', '/v1/sessions/none');
    expect(refused.status).toBe(401);
    expect((await new Api(oldMaster.url, NEW).call('GET', '/v1/sessions/none')).status).toBe(401);
  });

  test('GIVEN an app still on the old secret THEN its tokens, from any master, join on every master', async () => {
    await new Api(oldMaster.url, OLD).createSession('rotation');
    const fromNew = await new Api(newMaster.url, OLD).token('rotation', 'alice');
    expect(verifyConnectionToken(tokenKeyFrom(OLD), fromNew).ok).toBe(true);
    expect(await joins(oldMaster, fromNew)).toBe('joined');
    const fromOld = await new Api(oldMaster.url, OLD).token('rotation', 'bob');
    expect(await joins(newMaster, fromOld)).toBe('joined');
  });

  test('GIVEN the app on the new secret THEN new masters sign under it; old masters refuse those tokens', async () => {
    await new Api(newMaster.url, NEW).createSession('rotated');
    const token = await new Api(newMaster.url, NEW).token('rotated', 'carol');
    expect(verifyConnectionToken(tokenKeyFrom(NEW), token).ok).toBe(true);
    expect(await joins(newMaster, token)).toBe('joined');
    // Why the app switches only once every master is new.
    expect(await joins(oldMaster, token)).toBe('error');
    const forged = signConnectionToken(tokenKeyFrom(UNKNOWN), {
      sessionId: 'rotated',
      participantId: 'carol',
      expiresAt: Date.now() + 60_000,
    });
    expect(await joins(newMaster, forged)).toBe('error');
  });
});
