import { isOfferer, readSignalData } from '../../../runtime/client/signaling';

describe('isOfferer', () => {
  test.each([
    ['alice', 'bob'],
    ['p10', 'p9'],
    ['Zoe', 'adam'],
  ])('of %s and %s exactly one offers, the same seen from either side', (a, b) => {
    expect([isOfferer(a, b), isOfferer(b, a)].filter(Boolean)).toHaveLength(1);
  });

  test('compares code units, not the locale: upper case sorts first', () => {
    expect(isOfferer('Zoe', 'adam')).toBe(true);
  });
});

describe('readSignalData', () => {
  test.each<[string, Parameters<typeof readSignalData>[0], unknown]>([
    ['an offer of another type', 'offer', { type: 'answer', sdp: 'v=0' }],
    ['an answer without its sdp', 'answer', { type: 'answer' }],
    ['a candidate without its line', 'candidate', { sdpMid: '0' }],
    ['a candidate with a text sdpMLineIndex', 'candidate', { candidate: 'c', sdpMLineIndex: '0' }],
    ['a candidate as text', 'candidate', 'candidate:1 1 udp 1 192.0.2.1 5000 typ host'],
    ['a renegotiate with a text iceRestart', 'renegotiate', { iceRestart: 'yes' }],
    ['a renegotiate of nothing', 'renegotiate', undefined],
  ])('refuses %s', (_what, kind, data) => {
    expect(readSignalData(kind, data)).toBeUndefined();
  });

  test('keeps the fields of a candidate and drops others', () => {
    const init = { candidate: 'c', sdpMid: null, sdpMLineIndex: 0, usernameFragment: 'u', extra: 1 };
    expect(readSignalData('candidate', init)).toEqual({
      candidate: 'c',
      sdpMid: null,
      sdpMLineIndex: 0,
      usernameFragment: 'u',
    });
  });
});
