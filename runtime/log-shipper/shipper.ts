/**
 * The shipper's loop: journal entries into the buffer, batches out to CloudWatch every flush
 * interval (sooner when a full batch waits), backoff while CloudWatch is unreachable, and on stop
 * one last flush. It never throws for CloudWatch's sake: a node's logs are not worth the node.
 */
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import * as path from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../contract/env';
import { Imds, IMDS_ENDPOINT_VAR } from '../node/imds';
import { CloudWatchSink, createCloudWatchLogsClient, isRejectedBatch } from './cloudwatch';
import { LogBuffer } from './core';
import { CursorFile, JOURNALCTL, JournalProcess, type JournalCommand } from './journal';

export interface ShipperOptions {
  readonly buffer: LogBuffer;
  readonly sink: Pick<CloudWatchSink, 'put' | 'streamName'>;
  readonly journal: JournalCommand;
  /** Where the shipped position is kept across restarts; without it every start reads this boot. */
  readonly cursorFile?: CursorFile;
  readonly warn: (line: string) => void;
  /** @default 5000 */
  readonly flushIntervalMs?: number;
  /** Longest wait between flushes while CloudWatch fails; the wait doubles from the interval. @default 60000 */
  readonly maxBackoffMs?: number;
  /** Wait before running the journal command again after it ended on its own. @default 5000 */
  readonly restartDelayMs?: number;
  /** How long the flush on stop may go on: systemd kills the unit after its stop timeout anyway. @default 15000 */
  readonly stopFlushMs?: number;
}

export class Shipper {
  private journal: JournalProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  private failures = 0;

  constructor(private readonly options: ShipperOptions) {}

  /** Ships until `stop`, then flushes what is buffered; resolves when done. */
  async run(): Promise<void> {
    const { flushIntervalMs = 5_000, maxBackoffMs = 60_000, stopFlushMs = 15_000 } = this.options;
    this.startJournal(this.options.cursorFile?.load());
    while (!this.stopping) {
      await this.pause(
        this.failures === 0 ? flushIntervalMs : Math.min(maxBackoffMs, flushIntervalMs * 2 ** this.failures),
      );
      await this.flush(Infinity);
    }
    clearTimeout(this.restartTimer);
    await this.journal?.stop();
    await this.flush(Date.now() + stopFlushMs);
    const left = this.options.buffer.pendingEvents;
    if (left > 0) this.options.warn(`stopped with ${left} events not shipped; the next run reads them again`);
  }

  stop(): void {
    this.stopping = true;
    this.wakeUp?.();
  }

  private startJournal(cursor: string | undefined): void {
    const { buffer, journal, warn, restartDelayMs = 5_000 } = this.options;
    let read = 0;
    this.journal = new JournalProcess(journal, cursor, {
      onEntry: (entry) => {
        read += 1;
        buffer.read(entry, Date.now());
        if (buffer.hasFullBatch && this.failures === 0) this.wakeUp?.();
      },
      onExit: (reason) => {
        if (this.stopping) return;
        // What was read is buffered: pick up after the last entry read, not the last one shipped. A
        // cursor that gave nothing may be what journalctl refuses ("Failed to seek to cursor"): drop it
        // rather than fail on it forever, at the price of this boot's entries shipped twice.
        const resumeAt = read > 0 ? buffer.readCursor : undefined;
        warn(`${reason}; running it again in ${restartDelayMs} ms from ${resumeAt ?? 'this boot'}`);
        this.restartTimer = setTimeout(() => this.startJournal(resumeAt), restartDelayMs);
      },
    });
  }

  /** Sends batches until the buffer is empty, CloudWatch fails, or the deadline passes. */
  private async flush(deadline: number): Promise<void> {
    const { buffer, sink, warn, cursorFile } = this.options;
    for (let batch = buffer.nextBatch(); batch; batch = buffer.nextBatch()) {
      if (Date.now() > deadline) break;
      const stream = sink.streamName(batch.group);
      try {
        const rejected = await sink.put(batch.group, batch.events);
        if (rejected > 0) warn(`${stream}: CloudWatch Logs rejected ${rejected} events (too old or too new)`);
        buffer.ack(batch);
        if (this.failures > 0) warn(`CloudWatch Logs reachable again after ${this.failures} failed flushes`);
        this.failures = 0;
      } catch (err) {
        if (isRejectedBatch(err)) {
          warn(`${stream}: dropped a batch of ${batch.events.length} events CloudWatch Logs refused: ${err}`);
          buffer.ack(batch);
          continue;
        }
        // One line per outage, not per attempt: this unit's stderr is on the same small disk.
        if (this.failures === 0) warn(`${stream}: cannot ship (${errorText(err)}); keeping the newest logs`);
        this.failures += 1;
        break;
      }
    }
    cursorFile?.save(buffer.shippedCursor);
  }

  /** Waits `ms`, or less when woken (a full batch, a stop). */
  private pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Where the cursor lives when systemd gives no `StateDirectory=`. */
export const DEFAULT_STATE_DIRECTORY = '/var/lib/rtc-ha-logs';

const ENV = {
  RTC_BOOT_LOG_GROUP: z.string(),
  RTC_BOOT_REGION: z.string({ required_error: 'required with RTC_BOOT_LOG_GROUP' }),
  [IMDS_ENDPOINT_VAR]: z.string().url().optional(),
  // systemd's StateDirectory=; several directories come colon-separated.
  STATE_DIRECTORY: z.string().default(DEFAULT_STATE_DIRECTORY),
};

/** What tests replace: the journal command, the client, and the loop's timings. */
export type MainOverrides = Partial<Pick<ShipperOptions, 'journal' | 'flushIntervalMs' | 'stopFlushMs'>> & {
  readonly client?: CloudWatchLogsClient;
  /** Where SIGTERM and SIGINT come from. @default process */
  readonly signals?: NodeJS.EventEmitter;
  readonly warn?: (line: string) => void;
};

/** The unit's program: resolves to its exit status. */
export async function main(
  env: NodeJS.ProcessEnv = process.env,
  overrides: MainOverrides = {},
): Promise<number> {
  const warn = overrides.warn ?? ((line: string) => process.stderr.write(`rtc-ha-logs: ${line}\n`));
  if (!env.RTC_BOOT_LOG_GROUP) {
    // Exit 0: the unit restarts on failure only, so shipping stays off instead of looping.
    warn('RTC_BOOT_LOG_GROUP is not set: log shipping is disabled');
    return 0;
  }
  const parsed = parseEnv(ENV, env);
  if (!parsed.ok) {
    warn(`invalid configuration: ${parsed.problems.join('; ')}`);
    return 2;
  }
  const config = parsed.config;
  // No retry here: failing exits 1, and systemd runs the unit again.
  const instanceId = await new Imds(config[IMDS_ENDPOINT_VAR]).require('instance-id');
  const client = overrides.client ?? createCloudWatchLogsClient(config.RTC_BOOT_REGION);
  const stateDirectory = config.STATE_DIRECTORY.split(':')[0];
  const shipper = new Shipper({
    buffer: new LogBuffer(),
    sink: new CloudWatchSink({ client, logGroupName: config.RTC_BOOT_LOG_GROUP, instanceId }),
    journal: overrides.journal ?? JOURNALCTL,
    cursorFile: new CursorFile(path.join(stateDirectory, 'cursor'), warn),
    warn,
    flushIntervalMs: overrides.flushIntervalMs,
    stopFlushMs: overrides.stopFlushMs,
  });
  const signals = overrides.signals ?? process;
  const stop = () => shipper.stop();
  signals.once('SIGTERM', stop);
  signals.once('SIGINT', stop);
  warn(`shipping the journal to ${config.RTC_BOOT_LOG_GROUP}, streams ${instanceId}/{runtime,boot,kernel}`);
  try {
    await shipper.run();
  } finally {
    signals.off('SIGTERM', stop);
    signals.off('SIGINT', stop);
    client.destroy();
  }
  return 0;
}
