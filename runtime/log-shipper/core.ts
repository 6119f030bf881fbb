/**
 * The log shipper's core: pure, no I/O. It turns journal entries (`journalctl --output=json`) into
 * CloudWatch Logs events, keeps them in a bounded buffer, and cuts batches that PutLogEvents accepts.
 * The loop (shipper.ts) feeds it entries and hands its batches to CloudWatch.
 */

/** One line of `journalctl --output=json`: string fields, byte arrays for binary ones, arrays for repeated ones. */
export type JournalEntry = Readonly<Record<string, unknown>>;

/** The stream an event goes to, after the instance id: `i-0abc/runtime`. */
export type StreamGroup = 'runtime' | 'boot' | 'kernel';

export interface LogEvent {
  readonly group: StreamGroup;
  /** ms since the epoch. */
  readonly timestamp: number;
  readonly message: string;
}

/** PutLogEvents' limits (CloudWatch Logs quotas). */
export const PUT_LOG_EVENTS_LIMITS = {
  maxBatchBytes: 1_048_576,
  /** Counted per event on top of its UTF-8 message. */
  eventOverheadBytes: 26,
  maxBatchEvents: 10_000,
  /** A batch must span less than this. */
  maxBatchSpanMs: 24 * 60 * 60 * 1000,
  /** Message plus overhead. */
  maxEventBytes: 256 * 1024,
} as const;

export const TRUNCATION_MARKER = ' [truncated by rtc-ha-logs]';

export const RUNTIME_UNIT = 'rtc-ha.service';

/** cloud-init's units on Debian 12 (22.4), and the two newer releases split `cloud-init.service` into. */
export const BOOT_UNITS: readonly string[] = [
  'cloud-init-local.service',
  'cloud-init.service',
  'cloud-config.service',
  'cloud-final.service',
  'cloud-init-main.service',
  'cloud-init-network.service',
];

/** The kernel lines of an OOM kill worth keeping; the rest of its report (memory tables, task list) is not. */
const OOM_LINE = /invoked oom-killer|out of memory|oom-kill:|oom_reaper/i;

/** Which stream an entry belongs to and the prefix its message gets, or undefined to skip it. */
export function classify(entry: JournalEntry): { group: StreamGroup; prefix: string } | undefined {
  const ownUnit = text(entry._SYSTEMD_UNIT);
  // systemd's own lines about a unit (started, failed, killed by the OOM killer) carry UNIT=.
  const aboutUnit = text(entry.UNIT);
  if (ownUnit === RUNTIME_UNIT) return { group: 'runtime', prefix: '' };
  if (aboutUnit === RUNTIME_UNIT) return { group: 'runtime', prefix: '[systemd] ' };
  if (ownUnit !== undefined && BOOT_UNITS.includes(ownUnit))
    return { group: 'boot', prefix: `[${ownUnit}] ` };
  if (aboutUnit !== undefined && BOOT_UNITS.includes(aboutUnit)) {
    return { group: 'boot', prefix: `[systemd ${aboutUnit}] ` };
  }
  if (text(entry._TRANSPORT) === 'kernel' && OOM_LINE.test(text(entry.MESSAGE) ?? '')) {
    return { group: 'kernel', prefix: '[kernel] ' };
  }
  return undefined;
}

/**
 * The CloudWatch event for a journal entry, or undefined when it is not ours or says nothing.
 * `receivedAt` stands in for a missing or unreadable `__REALTIME_TIMESTAMP`.
 */
export function toLogEvent(entry: JournalEntry, receivedAt: number): LogEvent | undefined {
  const source = classify(entry);
  const message = text(entry.MESSAGE);
  // PutLogEvents rejects empty messages, and a blank line carries nothing.
  if (!source || message === undefined || message.trim() === '') return undefined;
  return {
    group: source.group,
    timestamp: realtimeMs(entry.__REALTIME_TIMESTAMP) ?? receivedAt,
    message: truncate(source.prefix + message),
  };
}

/** A journal field as text: a string, bytes (binary or not valid UTF-8), or a repeated field's values. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) return Buffer.from(value).toString('utf8');
    const parts = value.map(text).filter((v): v is string => v !== undefined);
    return parts.length > 0 ? parts.join('\n') : undefined;
  }
  return undefined;
}

/** `__REALTIME_TIMESTAMP` is µs since the epoch as a decimal string. */
function realtimeMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,18}$/.test(value)) return undefined;
  return Math.floor(Number(value) / 1000);
}

export function eventBytes(message: string): number {
  return Buffer.byteLength(message, 'utf8') + PUT_LOG_EVENTS_LIMITS.eventOverheadBytes;
}

/** Cuts a message so that the event fits PutLogEvents' per-event limit, on a UTF-8 character boundary. */
export function truncate(message: string): string {
  const { maxEventBytes, eventOverheadBytes } = PUT_LOG_EVENTS_LIMITS;
  if (eventBytes(message) <= maxEventBytes) return message;
  const room = maxEventBytes - eventOverheadBytes - Buffer.byteLength(TRUNCATION_MARKER);
  const bytes = Buffer.from(message, 'utf8');
  let end = room;
  // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8') + TRUNCATION_MARKER;
}

export interface LogBufferOptions {
  /** Most bytes (messages plus per-event overhead) held while CloudWatch is unreachable; the oldest go first. */
  readonly maxBufferBytes: number;
}

export const DEFAULT_LOG_BUFFER_OPTIONS: LogBufferOptions = { maxBufferBytes: 8 * 1024 * 1024 };

interface Pending extends LogEvent {
  readonly bytes: number;
  /** The cursor to resume from if this event is the oldest not yet shipped: the entry read before it. */
  readonly resumeCursor: string | undefined;
  /** Evicted while its batch was in flight: it still counts as dropped unless that batch lands. */
  evicted: boolean;
}

export interface Batch {
  readonly group: StreamGroup;
  /** Chronological, within PutLogEvents' limits. */
  readonly events: readonly { readonly timestamp: number; readonly message: string }[];
  readonly bytes: number;
  /** Pending entries this batch carries (the dropped notice is not one). */
  readonly taken: readonly Pending[];
  /** Dropped events this batch's notice reports. */
  readonly droppedReported: number;
}

export function droppedNotice(count: number): string {
  return `[rtc-ha-logs] dropped ${count} event${count === 1 ? '' : 's'}: CloudWatch Logs was unreachable and the buffer was full`;
}

/**
 * Events read from the journal and not yet shipped, in journal order across streams. Also tracks
 * the journal cursor up to which everything was shipped or dropped: where to resume after a restart.
 */
export class LogBuffer {
  private queue: Pending[] = [];
  private bytes = 0;
  private lastCursor: string | undefined;
  private readonly dropped = new Map<StreamGroup, { count: number; lastTimestamp: number }>();

  constructor(private readonly options: LogBufferOptions = DEFAULT_LOG_BUFFER_OPTIONS) {
    if (options.maxBufferBytes < PUT_LOG_EVENTS_LIMITS.maxEventBytes) {
      throw new Error(`maxBufferBytes must be at least ${PUT_LOG_EVENTS_LIMITS.maxEventBytes}`);
    }
  }

  /** Reads one journal entry; entries that are not shipped still move the cursor. */
  read(entry: JournalEntry, receivedAt: number): void {
    const cursor = typeof entry.__CURSOR === 'string' ? entry.__CURSOR : undefined;
    const event = toLogEvent(entry, receivedAt);
    if (event) {
      const bytes = eventBytes(event.message);
      this.queue.push({ ...event, bytes, resumeCursor: this.lastCursor, evicted: false });
      this.bytes += bytes;
      this.evictOverflow();
    }
    this.lastCursor = cursor ?? this.lastCursor;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  get pendingEvents(): number {
    return this.queue.length;
  }

  /** Whether one full batch is waiting: worth sending before the flush interval ends. */
  get hasFullBatch(): boolean {
    const { maxBatchBytes, maxBatchEvents } = PUT_LOG_EVENTS_LIMITS;
    return this.bytes >= maxBatchBytes || this.queue.length >= maxBatchEvents;
  }

  /** The last entry read: where a restarted journal command picks up (what is buffered stays buffered). */
  get readCursor(): string | undefined {
    return this.lastCursor;
  }

  /** Everything before this cursor was shipped or dropped: where the next run of the shipper picks up. */
  get shippedCursor(): string | undefined {
    return this.queue.length > 0 ? this.queue[0].resumeCursor : this.lastCursor;
  }

  /**
   * The next batch to send: the oldest event's stream, its events in journal order up to a limit.
   * It stays buffered until `ack`ed, so a failed send loses nothing.
   */
  nextBatch(): Batch | undefined {
    // A stream whose every buffered event was dropped still owes its notice; steady traffic on
    // another stream must not postpone it.
    const noticeOnly = [...this.dropped.keys()].find((g) => !this.queue.some((p) => p.group === g));
    const group = noticeOnly ?? this.queue[0]?.group;
    if (group === undefined) return undefined;
    const { maxBatchBytes, maxBatchEvents, maxBatchSpanMs } = PUT_LOG_EVENTS_LIMITS;
    const events: { timestamp: number; message: string }[] = [];
    const taken: Pending[] = [];
    let bytes = 0;
    const dropped = this.dropped.get(group);
    if (dropped) {
      const first = this.queue.find((p) => p.group === group);
      const message = droppedNotice(dropped.count);
      events.push({ timestamp: Math.min(dropped.lastTimestamp, first?.timestamp ?? Infinity), message });
      bytes += eventBytes(message);
    }
    for (const pending of this.queue) {
      if (pending.group !== group) continue;
      const previous = events.at(-1);
      if (
        events.length >= maxBatchEvents ||
        bytes + pending.bytes > maxBatchBytes ||
        // PutLogEvents wants chronological order: a clock step back starts the next batch.
        (previous && pending.timestamp < previous.timestamp) ||
        (events.length > 0 && pending.timestamp - events[0].timestamp >= maxBatchSpanMs)
      ) {
        break;
      }
      events.push({ timestamp: pending.timestamp, message: pending.message });
      taken.push(pending);
      bytes += pending.bytes;
    }
    return { group, events, bytes, taken, droppedReported: dropped?.count ?? 0 };
  }

  /** The batch landed (or CloudWatch refused it for good): it leaves the buffer. */
  ack(batch: Batch): void {
    const gone = new Set(batch.taken);
    let unDropped = 0;
    for (const pending of batch.taken) {
      // Evicted while in flight, yet delivered: not dropped after all.
      if (pending.evicted) unDropped += 1;
      else this.bytes -= pending.bytes;
    }
    this.queue = this.queue.filter((p) => !gone.has(p));
    const dropped = this.dropped.get(batch.group);
    if (dropped) {
      dropped.count -= batch.droppedReported + unDropped;
      if (dropped.count <= 0) this.dropped.delete(batch.group);
    }
  }

  /** Drops the oldest events until the buffer fits, counting them per stream for the notice. */
  private evictOverflow(): void {
    while (this.bytes > this.options.maxBufferBytes && this.queue.length > 1) {
      const oldest = this.queue.shift() as Pending;
      oldest.evicted = true;
      this.bytes -= oldest.bytes;
      const dropped = this.dropped.get(oldest.group) ?? { count: 0, lastTimestamp: oldest.timestamp };
      dropped.count += 1;
      dropped.lastTimestamp = Math.max(dropped.lastTimestamp, oldest.timestamp);
      this.dropped.set(oldest.group, dropped);
    }
  }
}
