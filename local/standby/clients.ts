/**
 * Clients of a standby pair, seen from the test or benchmark process: local/standby/driver.ts run in
 * the pair's client namespace (or a program that runs it with media tools), its events read from
 * its stdout.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { WorkloadReport } from '../chaos/workload';
import type { DriverConfig, DriverMediaConfig, DriverMediaReport, FramesAfter, Sample } from './driver';
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
  /** With media: the cameras, the subscribers' frames, their media restorations. */
  readonly media?: DriverMediaReport;
}

export interface PairClients {
  /** Who serves now, by the last sample (and since when). */
  readonly timeline: readonly Sample[];
  /** With media: when video flowed to every subscriber after the cameras published. */
  readonly flowing: FramesAfter | undefined;
  /** With media: waits (at most `timeoutMs`) until every subscriber receives video after `since`. */
  framesAfter(since: number, timeoutMs: number): Promise<FramesAfter>;
  /** Stops sending, waits for every message to arrive (or be missing), reports. */
  stop(): Promise<ClientsReport>;
}

export interface ClientsOptions extends Pick<ExerciseOptions, 'runId' | 'sessions' | 'messageIntervalMs'> {
  /** @default none: signaling only */
  readonly media?: DriverMediaConfig;
  /**
   * The driver program (TypeScript, run with tsx).
   * @default local/standby/driver.ts - a media run needs a program that gives runDriver its MediaTools
   */
  readonly program?: string;
}

/**
 * Starts `sessions` sessions of two participants, each sending a numbered message every
 * `messageIntervalMs`, through the pair's service address (with media: a camera publishing into
 * each, both participants subscribed); resolves once all joined (with media: video flows).
 */
export async function startClients(pair: StandbyPair, options: ClientsOptions): Promise<PairClients> {
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
    ...(options.media && { media: options.media }),
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
      options.program ?? join(__dirname, 'driver.ts'),
    ],
    { stdio: ['pipe', 'pipe', fd], env: { ...process.env, STANDBY_DRIVER: JSON.stringify(config) } },
  );
  closeSync(fd);
  const timeline: Sample[] = [];
  let report: ClientsReport | undefined;
  let onReady: ((event: { flowing?: FramesAfter }) => void) | undefined;
  let onFrames: ((found: FramesAfter) => void) | undefined;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as { event: string } & Record<string, unknown>;
    if (event.event === 'serving') timeline.push(event as unknown as Sample);
    if (event.event === 'ready') onReady?.(event as { flowing?: FramesAfter });
    if (event.event === 'frames-after') onFrames?.(event as unknown as FramesAfter);
    if (event.event === 'report') report = event as unknown as ClientsReport;
  });
  const untilExit = (what: string) =>
    exited.then((): never => {
      throw new Error(`the pair's clients exited ${what}:\n${tailOf(logFile)}`);
    });
  const ready = await Promise.race([
    new Promise<{ flowing?: FramesAfter }>((resolve) => (onReady = resolve)),
    untilExit('before joining'),
  ]);
  return {
    timeline,
    flowing: ready.flowing,
    framesAfter: async (since, timeoutMs) => {
      const answer = new Promise<FramesAfter>((resolve) => (onFrames = resolve));
      child.stdin!.write(`${JSON.stringify({ cmd: 'frames-after', since, timeoutMs })}\n`);
      return Promise.race([answer, untilExit('before answering')]);
    },
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
