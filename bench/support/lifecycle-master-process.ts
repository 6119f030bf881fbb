import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnLogged, tailOf } from '../../local/child';
import { bundleEntry, httpStatus, LOG_DIR } from '../../local/node-process';
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

/**
 * Starts a master process with `env` (RTC_* as for the real master) and the lifecycle `overrides`,
 * on a free loopback port; resolves once /ready answers 200.
 */
export async function startLifecycleMaster(
  nodeId: string,
  env: Readonly<Record<string, string>>,
  overrides: Partial<Record<keyof typeof LIFECYCLE_OVERRIDES, number>>,
): Promise<LifecycleMaster> {
  const entry = await bundleEntry('bench/support/lifecycle-master.ts');
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
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${nodeId}.log`);
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
