import { build } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnLogged, tailOf } from '../../local/child';
import { httpStatus } from '../../local/node-process';
import { freePort, waitFor } from '../../local/ports';
import type { LIFECYCLE_OVERRIDES } from './lifecycle-master';

/** A running bench master (./lifecycle-master.ts) as a child process. */
export interface LifecycleMaster {
  readonly nodeId: string;
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  stop(graceMs?: number): Promise<unknown>;
}

const ROOT = resolve(__dirname, '..', '..');
const WORK_DIR = join(tmpdir(), `rtc-ha-${userInfo().uid}`);
let bundle: Promise<string> | undefined;

/** Bundles ./lifecycle-master.ts once per run (esbuild, like local/node-process.ts does the real entries). */
function bundled(): Promise<string> {
  bundle ??= (async () => {
    const dir = join(WORK_DIR, 'node-bundles');
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'bench-lifecycle-master.js');
    const tmp = `${out}.${process.pid}.tmp`;
    await build({
      absWorkingDir: ROOT,
      entryPoints: ['bench/support/lifecycle-master.ts'],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: 'inline',
      external: ['bufferutil', 'utf-8-validate'],
      logLevel: 'silent',
    });
    renameSync(tmp, out); // a parallel run never starts a half-written bundle
    return out;
  })();
  return bundle;
}

/**
 * Starts a master process with `env` (RTC_* as for the real master) and the lifecycle `overrides`,
 * on a free loopback port; resolves once /ready answers 200.
 */
export async function startLifecycleMaster(
  nodeId: string,
  env: Readonly<Record<string, string>>,
  overrides: Partial<Record<keyof typeof LIFECYCLE_OVERRIDES, number>>,
): Promise<LifecycleMaster> {
  const entry = await bundled();
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('RTC_') && !name.startsWith('BENCH_')),
  );
  Object.assign(childEnv, env, {
    RTC_LISTEN_HOST: '127.0.0.1',
    RTC_PORT: String(port),
    RTC_NODE_ID: nodeId,
  });
  for (const [name, ms] of Object.entries(overrides)) childEnv[name] = String(ms);
  const logDir = join(WORK_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${nodeId}.log`);
  writeFileSync(logFile, '');
  const child = spawnLogged(nodeId, process.execPath, ['--enable-source-maps', entry], logFile, childEnv);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `${nodeId} /ready`,
      async () => child.hasExited() || (await httpStatus(`${url}/ready`)) === 200,
      15_000,
      50,
    );
    if (child.hasExited()) throw new Error('exited');
  } catch (err) {
    await child.stop(500);
    throw new Error(`${nodeId} did not get ready (${(err as Error).message}):\n${tailOf(logFile)}`);
  }
  return { nodeId, url, pid: child.process.pid ?? -1, logFile, stop: (graceMs) => child.stop(graceMs) };
}
