import {
  JanusSpec,
  debianJanusLibDir,
  janusConfig,
  janusSpecProblems,
} from '../../../../runtime/media/janus';
import { jcfg } from '../../../../runtime/media/janus/config';

const SPEC: JanusSpec = {
  configDir: '/run/rtc-ha/janus',
  libDir: '/usr/lib/x86_64-linux-gnu/janus',
  apiPort: 8188,
  apiSecret: 'api-secret-0123456789',
  adminPort: 7188,
  adminSecret: 'admin-secret-0123456789',
  rtpPortMin: 40_000,
  rtpPortMax: 49_999,
  iceAddress: '10.0.1.23',
  sessionTimeoutSeconds: 60,
  serverName: 'media-1',
  logLevel: 4,
};

describe('janusConfig: the files janus -F reads', () => {
  const config = janusConfig(SPEC);
  const main = config.files['janus.jcfg'];
  const websockets = config.files['janus.transport.websockets.jcfg'];

  test('writes janus.jcfg, the WebSockets transport and the VideoRoom plugin, nothing else', () => {
    expect(Object.keys(config.files).sort()).toEqual([
      'janus.jcfg',
      'janus.plugin.videoroom.jcfg',
      'janus.transport.websockets.jcfg',
    ]);
  });

  test.each([
    ['its private folders', main, 'plugins_folder = "/run/rtc-ha/janus/plugins"'],
    ['transports from its own folder', main, 'transports_folder = "/run/rtc-ha/janus/transports"'],
    ['no logger: an empty folder', main, 'loggers_folder = "/run/rtc-ha/janus/loggers"'],
    ['no event handler', main, 'broadcast = false'],
    ['logs on stdout', main, 'log_to_stdout = true'],
    ['plain log lines', main, 'debug_colors = false'],
    ['the API secret', main, 'api_secret = "api-secret-0123456789"'],
    ['the admin secret', main, 'admin_secret = "admin-secret-0123456789"'],
    ['the session timeout', main, 'session_timeout = 60'],
    ['sessions die with the agent socket', main, 'reclaim_session_timeout = 0'],
    ['the RTP range', main, 'rtp_port_range = "40000-49999"'],
    ['ICE on the node address only', main, 'ice_enforce_list = "10.0.1.23"'],
    ['the server name', main, 'server_name = "media-1"'],
    ['the log level', main, 'debug_level = 4'],
    ['the Janus API port', websockets, 'ws_port = 8188'],
    ['the Janus API on loopback', websockets, 'ws_ip = "127.0.0.1"'],
    ['the admin API over WebSocket', websockets, 'admin_ws = true'],
    ['the admin API port', websockets, 'admin_ws_port = 7188'],
    ['the admin API on loopback', websockets, 'admin_ws_ip = "127.0.0.1"'],
    ['no TLS (loopback only)', websockets, 'wss = false'],
    ['string room and feed ids', config.files['janus.plugin.videoroom.jcfg'], 'string_ids = true'],
  ])('sets %s', (_what, file, line) => {
    expect(file.split('\n').map((l) => l.trim())).toContain(line);
  });

  test.each([
    ['no NAT mapping without a public address', main, 'nat_1_1_mapping'],
    ['no STUN or TURN for Janus itself', main, 'stun_server'],
    ['no TURN', main, 'turn_server'],
    ['no rooms from the file', config.files['janus.plugin.videoroom.jcfg'], 'room-'],
    ['no HTTP transport setting', websockets, 'http'],
  ])('leaves out %s', (_what, file, text) => {
    expect(file).not.toContain(text);
  });

  test('links only the VideoRoom plugin and the WebSockets transport', () => {
    expect(config.links).toEqual({
      'plugins/libjanus_videoroom.so': '/usr/lib/x86_64-linux-gnu/janus/plugins/libjanus_videoroom.so',
      'transports/libjanus_websockets.so':
        '/usr/lib/x86_64-linux-gnu/janus/transports/libjanus_websockets.so',
    });
    expect(config.emptyDirs).toEqual(['events', 'loggers']);
  });

  test('adds the public address to host candidates behind a 1:1 NAT, keeping the private one', () => {
    const natted = janusConfig({ ...SPEC, natPublicAddress: '203.0.113.7' }).files['janus.jcfg'];
    expect(natted).toMatch(/\tnat_1_1_mapping = "203\.0\.113\.7"\n/);
    expect(natted).toMatch(/\tice_enforce_list = "10\.0\.1\.23"\n/);
    // and keeps the private one: the node's own TURN relay reaches Janus there
    expect(natted).toMatch(/\tkeep_private_host = true\n/);
  });
});

describe('janusSpecProblems: every problem, each naming its field', () => {
  test.each<[string, Partial<JanusSpec>, RegExp]>([
    ['lo as the ICE interface', { iceAddress: 'lo' }, /^iceAddress: "lo" is loopback/],
    ['a loopback ICE address', { iceAddress: '127.0.0.1' }, /^iceAddress: .* is loopback/],
    ['IPv6 loopback', { iceAddress: '::1' }, /^iceAddress: .* is loopback/],
    ['a port out of range', { apiPort: 70_000 }, /^apiPort: must be a port/],
    ['a port that is no integer', { adminPort: 80.5 }, /^adminPort: must be a port/],
    ['both APIs on one port', { adminPort: 8188 }, /^adminPort: must differ from apiPort/],
    ['an inverted RTP range', { rtpPortMin: 50_000 }, /^rtpPortMin: must not exceed rtpPortMax/],
    ['a short API secret', { apiSecret: 'short' }, /^apiSecret: must be 16-128/],
    [
      'an admin secret with a space',
      { adminSecret: 'has a space in it......' },
      /^adminSecret: must be 16-128/,
    ],
    [
      'a public address that is a name',
      { natPublicAddress: 'media.example.com' },
      /^natPublicAddress: must be an IP/,
    ],
    ['no session timeout', { sessionTimeoutSeconds: 0 }, /^sessionTimeoutSeconds: must be a positive/],
    ['a log level above 7', { logLevel: 8 }, /^logLevel: must be 0-7/],
  ])('%s', (_what, change, problem) => {
    expect(janusSpecProblems({ ...SPEC, ...change })).toEqual([expect.stringMatching(problem)]);
  });

  test('a valid spec has none; an invalid one throws with all of them', () => {
    expect(janusSpecProblems(SPEC)).toEqual([]);
    expect(() => janusConfig({ ...SPEC, iceAddress: 'lo', apiPort: 0 })).toThrow(
      /invalid Janus spec:\n- apiPort: .*\n- iceAddress: /,
    );
  });
});

test('jcfg quotes strings with escapes and leaves numbers and booleans bare', () => {
  expect(jcfg({ general: { name: 'a "b" \\c', port: 1, on: true } })).toBe(
    'general: {\n\tname = "a \\"b\\" \\\\c"\n\tport = 1\n\ton = true\n}\n',
  );
});

test.each([
  ['x64', '/usr/lib/x86_64-linux-gnu/janus'],
  ['arm64', '/usr/lib/aarch64-linux-gnu/janus'],
])('the Debian module folder on %s', (arch, dir) => {
  expect(debianJanusLibDir(arch)).toBe(dir);
});
