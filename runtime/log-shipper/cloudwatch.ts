/**
 * The CloudWatch Logs adapter: one stream per instance and stream group (`i-0abc/runtime`) in a
 * log group that CDK created with its retention; the shipper never creates groups.
 */
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type InputLogEvent,
  type RejectedLogEventsInfo,
} from '@aws-sdk/client-cloudwatch-logs';
import { retrying, type RetryOptions as AwsRetryOptions } from '../aws/retry';
import type { StreamGroup } from './core';

/** Retries of each call; unset fields keep the defaults. */
export type RetryOptions = Partial<AwsRetryOptions>;
const DEFAULT_RETRY: AwsRetryOptions = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

export interface CloudWatchSinkOptions {
  readonly client: CloudWatchLogsClient;
  readonly logGroupName: string;
  readonly instanceId: string;
  readonly retry?: RetryOptions;
}

/**
 * A client whose calls fail fast: retries live in the adapter (bounded per call) and in the
 * shipper's loop (unbounded, with backoff, the batch kept), not in the SDK as well.
 */
export function createCloudWatchLogsClient(region: string): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    region,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000 },
  });
}

/** CloudWatch refuses the batch itself: sending it again cannot help, so it is dropped, not retried forever. */
export function isRejectedBatch(err: unknown): boolean {
  return err instanceof Error && err.name === 'InvalidParameterException';
}

/** How many events of a batch CloudWatch accepted the call for but did not store (too old, too new). */
export function rejectedCount(info: RejectedLogEventsInfo | undefined, events: number): number {
  if (!info) return 0;
  const old = Math.max(info.tooOldLogEventEndIndex ?? 0, info.expiredLogEventEndIndex ?? 0);
  const tooNew = info.tooNewLogEventStartIndex === undefined ? 0 : events - info.tooNewLogEventStartIndex;
  return old + tooNew;
}

export class CloudWatchSink {
  private readonly created = new Set<string>();

  constructor(private readonly options: CloudWatchSinkOptions) {}

  streamName(group: StreamGroup): string {
    return `${this.options.instanceId}/${group}`;
  }

  /** Sends one batch (chronological, within PutLogEvents' limits); resolves to the events CloudWatch rejected. */
  async put(group: StreamGroup, logEvents: readonly InputLogEvent[]): Promise<number> {
    const { client, logGroupName } = this.options;
    const logStreamName = this.streamName(group);
    if (!this.created.has(logStreamName)) {
      await this.retrying(async () => {
        try {
          await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
        } catch (err) {
          // Created by an earlier run of the shipper on this instance: fine.
          if (!(err instanceof Error && err.name === 'ResourceAlreadyExistsException')) throw err;
        }
      });
      this.created.add(logStreamName);
    }
    try {
      const { rejectedLogEventsInfo } = await this.retrying(() =>
        client.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents: [...logEvents] })),
      );
      return rejectedCount(rejectedLogEventsInfo, logEvents.length);
    } catch (err) {
      // The stream was deleted under us: create it again on the next attempt.
      if (err instanceof Error && err.name === 'ResourceNotFoundException')
        this.created.delete(logStreamName);
      throw err;
    }
  }

  private retrying<T>(call: () => Promise<T>): Promise<T> {
    return retrying(call, { ...DEFAULT_RETRY, ...this.options.retry });
  }
}
