import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitInfo, describeExit, spawnLogged, tailOf } from './child';
import { freePort, waitFor } from './ports';

/**
 * Starts masters and media agents as real child processes, for tests, benchmarks and the local
 * cluster. Each entry is bundled once with esbuild into the OS temp folder (rebuilt when a source
 * file changed) and run with plain `node`: a process starts in a fraction of the time tsx needs.
 * Nothing is written into the checkout.
 */
export type NodeKind = 'master' | 'media';

const ROOT = resolve(__dirname, '..');
const ENTRIES: Record<NodeKind, string> = {
  master: 'runtime/master/main.ts',
  media: 'runtime/media/main.ts',
};
// Per user: another user's folder in a shared /tmp is not ours to write.
const WORK_DIR = join(tmpdir(), `rtc-ha-${userInfo().uid}`);
// Per checkout: a bundle built from another clone's sources would pass the freshness check here.
const BUNDLE_DIR = join(
  WORK_DIR,
  'node-bundles',
  createHash('sha256').update(ROOT).digest('hex').slice(0, 12),
);
/** Where node processes write their logs (one file each). */
export const LOG_DIR = join(WORK_DIR, 'logs');

export interface NodeProcessOptions {
  readonly kind: NodeKind;
  /**
   * RTC_* variables of the node (nothing RTC_* is inherited from this process). RTC_PORT defaults
   * to a free port, RTC_NODE_ID to `<kind>-<port>`, RTC_LISTEN_HOST to 127.0.0.1.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolve once /ready answers 200 (default), once /live does, or at once. */
  readonly waitUntil?: 'ready' | 'live' | 'spawned';
  /** @default 15_000 */
  readonly startTimeoutMs?: number;
  /** @default <OS temp folder>/rtc-ha-<uid>/logs/<nodeId>.log, truncated at start */
  readonly logFile?: string;
}

/** One line a node logged (runtime/node/log.ts). */
export interface LogEvent {
  readonly time: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly node: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface NodeProcess {
  readonly kind: NodeKind;
  readonly nodeId: string;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process is gone (never rejects). */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** Sends a signal (SIGKILL: crash, SIGSTOP/SIGCONT: hang, SIGTERM: drain). */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM (after SIGCONT), SIGKILL after `graceMs`; resolves once gone. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** Everything it wrote so far, line by line. */
  lines(): string[];
  /** Its JSON log lines so far. */
  events(): LogEvent[];
}

export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const bundle = await bundleNode(options.kind);
  const port = Number(options.env.RTC_PORT ?? (await freePort()));
  const nodeId = options.env.RTC_NODE_ID ?? `${options.kind}-${port}`;
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('RTC_')),
  );
  Object.assign(env, { RTC_LISTEN_HOST: '127.0.0.1' }, options.env, {
    RTC_PORT: String(port),
    RTC_NODE_ID: nodeId,
  });
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = options.logFile ?? join(LOG_DIR, `${nodeId}.log`);
  writeFileSync(logFile, '');
  const child = spawnLogged(nodeId, process.execPath, ['--enable-source-maps', bundle], logFile, env);
  const url = `http://127.0.0.1:${port}`;
  const lines = () => tailOf(logFile, Number.MAX_SAFE_INTEGER).split('\n').filter(Boolean);

  const waitUntil = options.waitUntil ?? 'ready';
  if (waitUntil !== 'spawned') {
    const what = `${nodeId} /${waitUntil}`;
    let failure: string | undefined;
    await waitFor(
      what,
      async () => child.hasExited() || (await httpStatus(`${url}/${waitUntil}`)) === 200,
      options.startTimeoutMs ?? 15_000,
      50,
    ).catch((err: Error) => (failure = err.message));
    if (child.hasExited())
      failure = `${nodeId} exited (${describeExit(await child.exited)}) before /${waitUntil}`;
    if (failure) {
      await child.stop(500);
      throw new Error(`${failure}; last lines of ${logFile}:\n${tailOf(logFile)}`);
    }
  }

  return {
    kind: options.kind,
    nodeId,
    port,
    url,
    pid: child.process.pid ?? -1,
    logFile,
    exited: child.exited,
    hasExited: () => child.hasExited(),
    kill: (signal) => {
      if (!child.hasExited()) child.process.kill(signal);
    },
    stop: (graceMs) => child.stop(graceMs),
    lines,
    events: () => lines().flatMap(parseLogLine),
  };
}

const built = new Map<string, Promise<string>>();

/** The bundle of a node entry (see {@link bundleEntry}). */
export function bundleNode(kind: NodeKind): Promise<string> {
  return bundleEntry(ENTRIES[kind]);
}

/**
 * The bundle of `entry` (a TypeScript file, relative to the checkout) in BUNDLE_DIR, rebuilt when any
 * file it was built from changed since. Written under a temporary name and renamed, so parallel test
 * workers never run a half-written bundle. Every node program of tests and benchmarks is bundled here.
 */
export function bundleEntry(entry: string): Promise<string> {
  let bundle = built.get(entry);
  if (!bundle) {
    bundle = buildIfStale(entry);
    built.set(entry, bundle);
    bundle.catch(() => built.delete(entry));
  }
  return bundle;
}

async function buildIfStale(entry: string): Promise<string> {
  const name = entry.replace(/\.ts$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  const out = join(BUNDLE_DIR, `${name}.js`);
  const meta = join(BUNDLE_DIR, `${name}.inputs.json`);
  if (isFresh(out, meta)) return out;
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const startedAt = Date.now();
  const tmp = `${out}.${process.pid}.tmp`;
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    metafile: true,
    // Optional native speed-ups of `ws`, loaded only if installed.
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'silent',
  });
  writeFileSync(
    `${meta}.${process.pid}.tmp`,
    JSON.stringify({ startedAt, inputs: Object.keys(result.metafile.inputs) }),
  );
  renameSync(tmp, out);
  renameSync(`${meta}.${process.pid}.tmp`, meta);
  return out;
}

function isFresh(out: string, meta: string): boolean {
  try {
    statSync(out);
    const { startedAt, inputs } = JSON.parse(readFileSync(meta, 'utf8')) as {
      startedAt: number;
      inputs: string[];
    };
    return inputs.every((input) => statSync(join(ROOT, input)).mtimeMs < startedAt);
  } catch {
    return false; // no bundle yet, or an input is gone
  }
}

function parseLogLine(line: string): LogEvent[] {
  if (!line.startsWith('{')) return [];
  try {
    const parsed = JSON.parse(line) as LogEvent;
    return typeof parsed.event === 'string' ? [parsed] : [];
  } catch {
    return [];
  }
}

/** Status of a GET, or 0 when nothing answered (no keep-alive: nothing left open). */
export function httpStatus(url: string, timeoutMs = 1_000): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
  });
}
