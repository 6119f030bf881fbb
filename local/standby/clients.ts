/**
 * Clients of a standby pair, seen from the test or benchmark process: local/standby/driver.ts run in
 * the pair's client namespace, its events read from its stdout.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { WorkloadReport } from '../chaos/workload';
import type { DriverConfig, Sample } from './driver';
import { tailOf } from '../child';
import { NODE_NAMES, PAIR_NET, StandbyPair } from './pair';

const ROOT = resolve(__dirname, '..', '..');

export interface ClientsReport {
  readonly report: WorkloadReport;
  /** Each change of who serves, who holds the address, who is ready. */
  readonly timeline: Sample[];
  /** Samples in which both nodes served (held the address and answered ready throughout). */
  readonly overlaps: number;
  readonly overlapSamples: Sample[];
}

export interface PairClients {
  /** Who serves now, by the last sample (and since when). */
  readonly timeline: readonly Sample[];
  /** Stops sending, waits for every message to arrive (or be missing), reports. */
  stop(): Promise<ClientsReport>;
}

/**
 * Starts `sessions` sessions of two participants, each sending a numbered message every
 * `messageIntervalMs`, through the pair's service address; resolves once all joined.
 */
export async function startClients(
  pair: StandbyPair,
  options: Pick<ExerciseOptions, 'runId' | 'sessions' | 'messageIntervalMs'>,
): Promise<PairClients> {
  const config: DriverConfig = {
    serviceUrl: pair.serviceUrl,
    serviceAddress: PAIR_NET.serviceAddress,
    apiSecret: pair.options.apiSecret,
    runId: options.runId,
    sessions: options.sessions,
    messageIntervalMs: options.messageIntervalMs,
    nodes: NODE_NAMES.map((name) => ({
      name,
      namespace: pair.namespaces[name],
      readyUrl: `http://${PAIR_NET.pub[name]}:${new URL(pair.serviceUrl).port}/ready`,
    })),
  };
  const logFile = join(pair.dir, `clients-${options.runId}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      pair.namespaces.client,
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      join(__dirname, 'driver.ts'),
    ],
    { stdio: ['pipe', 'pipe', fd], env: { ...process.env, STANDBY_DRIVER: JSON.stringify(config) } },
  );
  closeSync(fd);
  const timeline: Sample[] = [];
  let report: ClientsReport | undefined;
  let onReady: (() => void) | undefined;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as { event: string } & Record<string, unknown>;
    if (event.event === 'serving') timeline.push(event as unknown as Sample);
    if (event.event === 'ready') onReady?.();
    if (event.event === 'report') report = event as unknown as ClientsReport;
  });
  await Promise.race([
    new Promise<void>((ready) => (onReady = ready)),
    exited.then(() => {
      throw new Error(`the pair's clients exited before joining:\n${tailOf(logFile)}`);
    }),
  ]);
  return {
    timeline,
    stop: async () => {
      child.stdin!.write(`${JSON.stringify({ cmd: 'stop' })}\n`);
      await exited;
      if (!report) throw new Error(`the pair's clients exited without a report:\n${tailOf(logFile)}`);
      return report;
    },
  };
}

export interface ExerciseOptions {
  readonly runId: string;
  readonly sessions: number;
  readonly messageIntervalMs: number;
  /** Traffic before the fault, and after it at the node that serves then. */
  readonly beforeMs: number;
  readonly afterMs: number;
}

/**
 * Runs `fault` while clients exchange messages before, during and after it; returns their report
 * and when the fault started. The clients stop (and report) whatever happens.
 */
export async function withClients(
  pair: StandbyPair,
  options: ExerciseOptions,
  fault: () => Promise<void>,
): Promise<ClientsReport & { readonly faultAt: number }> {
  const clients = await startClients(pair, options);
  let faultAt = 0;
  try {
    await sleep(options.beforeMs);
    faultAt = Date.now();
    await fault();
    await sleep(options.afterMs);
  } catch (err) {
    await clients.stop();
    throw err;
  }
  return { ...(await clients.stop()), faultAt };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
