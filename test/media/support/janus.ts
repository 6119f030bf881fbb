import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, waitFor } from '../../../local/ports';

// Where Debian's `janus` package keeps its modules.
const JANUS_LIB = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/janus`;

/** A private Janus for one test file: its own config folder, WebSocket API on loopback. */
export interface TestJanus {
  /** The WebSocket API (subprotocol `janus-protocol`). */
  readonly wsUrl: string;
  /** The tail of Janus's own log, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts Debian's `janus -F <tmp dir>` with only the VideoRoom plugin and the WebSocket transport,
 * gathering ICE candidates on `iceAddress` alone. Test scaffolding: the media agent's own
 * supervisor and configuration live in runtime/media/janus/.
 */
export async function startJanus(iceAddress: string): Promise<TestJanus> {
  const dir = await mkdtemp(join(tmpdir(), 'rtc-ha-janus-'));
  // Janus loads every module of a folder: give it folders holding only the two it needs.
  for (const [folder, module] of [
    ['plugins', 'libjanus_videoroom.so'],
    ['transports', 'libjanus_websockets.so'],
  ]) {
    await mkdir(join(dir, folder));
    await symlink(join(JANUS_LIB, folder, module), join(dir, folder, module));
  }
  await mkdir(join(dir, 'none'));
  const port = await freePort();
  await writeFile(
    join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${dir}/plugins"
  transports_folder = "${dir}/transports"
  events_folder = "${dir}/none"
  loggers_folder = "${dir}/none"
  debug_level = 4
  debug_colors = false
}
nat: {
  # An address, never "lo": Janus skips loopback and "lo" would match nothing, so gather everywhere.
  ice_enforce_list = "${iceAddress}"
}
`,
  );
  await writeFile(
    join(dir, 'janus.transport.websockets.jcfg'),
    `general: {
  ws = true
  ws_ip = "127.0.0.1"
  ws_port = ${port}
  wss = false
}
admin: {
  admin_ws = false
  admin_wss = false
}
`,
  );
  await writeFile(join(dir, 'janus.plugin.videoroom.jcfg'), 'general: {\n}\n');

  let output = '';
  const child = spawn('janus', ['-F', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    await terminate(child, exited);
    await rm(dir, { recursive: true, force: true });
  };

  const wsUrl = `ws://127.0.0.1:${port}`;
  try {
    await waitFor(
      'Janus to answer a ping on its WebSocket API',
      () => child.exitCode === null && ping(wsUrl),
      15_000,
      100,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- janus log ---\n${output}`);
  }
  return { wsUrl, log: () => output, stop };
}

/** One `ping` on a fresh connection, answered within a second or not at all. */
function ping(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'janus-protocol');
    const timer = setTimeout(() => done(false), 1_000);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      ws.terminate();
      resolve(ok);
    };
    ws.once('open', () => ws.send(JSON.stringify({ janus: 'ping', transaction: 'ready' })));
    ws.once('message', (data) => done(data.toString().includes('"pong"')));
    ws.once('error', () => done(false));
  });
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
