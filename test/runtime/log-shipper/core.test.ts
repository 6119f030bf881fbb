import {
  LogBuffer,
  PUT_LOG_EVENTS_LIMITS,
  TRUNCATION_MARKER,
  droppedNotice,
  eventBytes,
  toLogEvent,
  truncate,
  type Batch,
  type JournalEntry,
} from '../../../runtime/log-shipper/core';

const T0 = Date.UTC(2026, 0, 1, 10);
/** A journal entry of `unit` at `ms`, as journalctl --output=json prints it. */
function entry(message: unknown, ms: number, fields: Record<string, unknown> = {}): JournalEntry {
  return {
    __CURSOR: `s=1;i=${ms}`,
    __REALTIME_TIMESTAMP: String(ms * 1000 + 123),
    _SYSTEMD_UNIT: 'rtc-ha.service',
    MESSAGE: message,
    ...fields,
  };
}

describe('toLogEvent', () => {
  test.each<[string, JournalEntry, ReturnType<typeof toLogEvent>]>([
    [
      'runtime JSON line, unprefixed, µs to ms',
      entry('{"level":"info"}', T0),
      { group: 'runtime', timestamp: T0, message: '{"level":"info"}' },
    ],
    [
      'MESSAGE as bytes (not valid UTF-8)',
      entry([104, 105, 0xff], T0),
      { group: 'runtime', timestamp: T0, message: 'hi\ufffd' },
    ],
    [
      'a repeated MESSAGE field',
      entry(['a', [98]], T0),
      { group: 'runtime', timestamp: T0, message: 'a\nb' },
    ],
    [
      "systemd's line about the runtime unit",
      entry("rtc-ha.service: Failed with result 'oom-kill'.", T0, {
        _SYSTEMD_UNIT: 'init.scope',
        UNIT: 'rtc-ha.service',
      }),
      {
        group: 'runtime',
        timestamp: T0,
        message: "[systemd] rtc-ha.service: Failed with result 'oom-kill'.",
      },
    ],
    [
      'cloud-final output, prefixed with its unit',
      entry('installing rtc-ha', T0, { _SYSTEMD_UNIT: 'cloud-final.service' }),
      { group: 'boot', timestamp: T0, message: '[cloud-final.service] installing rtc-ha' },
    ],
    [
      "systemd's line about a cloud-init unit",
      entry('Finished cloud-init.service', T0, { _SYSTEMD_UNIT: 'init.scope', UNIT: 'cloud-init.service' }),
      { group: 'boot', timestamp: T0, message: '[systemd cloud-init.service] Finished cloud-init.service' },
    ],
    [
      'the kernel OOM killer',
      entry('Out of memory: Killed process 812 (node)', T0, {
        _SYSTEMD_UNIT: undefined,
        _TRANSPORT: 'kernel',
      }),
      { group: 'kernel', timestamp: T0, message: '[kernel] Out of memory: Killed process 812 (node)' },
    ],
    [
      'missing timestamp: the time it was read',
      entry('late', T0, { __REALTIME_TIMESTAMP: undefined }),
      { group: 'runtime', timestamp: 42, message: 'late' },
    ],
    [
      'other kernel lines',
      entry('Linux version 6.1', T0, { _SYSTEMD_UNIT: undefined, _TRANSPORT: 'kernel' }),
      undefined,
    ],
    [
      "the shipper's own unit (no loop)",
      entry('cannot ship', T0, { _SYSTEMD_UNIT: 'rtc-ha-logs.service' }),
      undefined,
    ],
    ['another unit', entry('sshd', T0, { _SYSTEMD_UNIT: 'ssh.service' }), undefined],
    ['MESSAGE missing', entry(undefined, T0), undefined],
    ['MESSAGE null (a field journalctl would not print)', entry(null, T0), undefined],
    ['a blank line', entry('  ', T0), undefined],
  ])('%s', (_name, input, expected) => {
    expect(toLogEvent(input, 42)).toEqual(expected);
  });
});

describe('truncate', () => {
  const { maxEventBytes } = PUT_LOG_EVENTS_LIMITS;
  test('an event that fits is untouched, up to the limit exactly', () => {
    const exact = 'a'.repeat(maxEventBytes - 26);
    expect(truncate(exact)).toBe(exact);
  });

  test.each([
    ['ASCII', 'a'],
    ['3-byte characters', '€'],
    ['4-byte characters', '😀'],
  ])('a larger one (%s) is cut to the limit with a marker, never mid-character', (_name, unit) => {
    const cut = truncate(unit.repeat(maxEventBytes));
    expect(cut.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(eventBytes(cut)).toBeLessThanOrEqual(maxEventBytes);
    expect(eventBytes(cut)).toBeGreaterThan(maxEventBytes - 4);
    expect(cut).not.toContain('\ufffd');
  });
});

/** Reads `entries` into a fresh buffer. */
function buffered(entries: JournalEntry[], maxBufferBytes = 8 * 1024 * 1024): LogBuffer {
  const buffer = new LogBuffer({ maxBufferBytes });
  for (const e of entries) buffer.read(e, 0);
  return buffer;
}

/** Every batch until the buffer is empty, acknowledging each. */
function drain(buffer: LogBuffer): Batch[] {
  const batches: Batch[] = [];
  for (let batch = buffer.nextBatch(); batch; batch = buffer.nextBatch()) {
    batches.push(batch);
    buffer.ack(batch);
  }
  return batches;
}

describe('LogBuffer batches', () => {
  const boot = { _SYSTEMD_UNIT: 'cloud-final.service' };
  test.each<[string, JournalEntry[], number[]]>([
    ['a few events: one batch', [entry('a', T0), entry('b', T0 + 1), entry('c', T0 + 1)], [3]],
    ['10,000 events at most', Array.from({ length: 10_001 }, (_, i) => entry('x', T0 + i)), [10_000, 1]],
    [
      '1,048,576 bytes at most, 26 bytes counted per event',
      // 4 events of 262,144 bytes fill a batch exactly; a 5th does not fit.
      Array.from({ length: 5 }, (_, i) =>
        entry('x'.repeat(PUT_LOG_EVENTS_LIMITS.maxEventBytes - 26), T0 + i),
      ),
      [4, 1],
    ],
    [
      'less than 24 hours per batch',
      [entry('a', T0), entry('b', T0 + 24 * 3600_000 - 1), entry('c', T0 + 24 * 3600_000)],
      [2, 1],
    ],
    [
      'a clock step back starts a new batch, journal order kept',
      [entry('a', T0 + 5000), entry('b', T0 + 6000), entry('c', T0), entry('d', T0 + 1)],
      [2, 2],
    ],
  ])('%s', (_name, entries, sizes) => {
    const batches = drain(buffered(entries));
    expect(batches.map((b) => b.events.length)).toEqual(sizes);
    for (const batch of batches) {
      expect(batch.bytes).toBeLessThanOrEqual(PUT_LOG_EVENTS_LIMITS.maxBatchBytes);
      expect(batch.bytes).toBe(batch.events.reduce((n, e) => n + eventBytes(e.message), 0));
      const times = batch.events.map((e) => e.timestamp);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });

  test('streams are kept apart and each keeps journal order', () => {
    const batches = drain(
      buffered([entry('r1', T0), entry('b1', T0 + 1, boot), entry('r2', T0 + 2), entry('b2', T0 + 3, boot)]),
    );
    expect(batches.map((b) => [b.group, b.events.map((e) => e.message)])).toEqual([
      ['runtime', ['r1', 'r2']],
      ['boot', ['[cloud-final.service] b1', '[cloud-final.service] b2']],
    ]);
  });

  test('a batch not acknowledged stays buffered and comes again', () => {
    const buffer = buffered([entry('a', T0)]);
    const first = buffer.nextBatch();
    expect(buffer.nextBatch()).toEqual(first);
    expect(buffer.pendingEvents).toBe(1);
  });

  test('a full batch is flagged as soon as it is waiting', () => {
    const buffer = buffered(Array.from({ length: 9_999 }, (_, i) => entry('x', T0 + i)));
    expect(buffer.hasFullBatch).toBe(false);
    buffer.read(entry('x', T0 + 10_000), 0);
    expect(buffer.hasFullBatch).toBe(true);
  });
});

describe('LogBuffer cursor', () => {
  test('resumes before the oldest event not shipped, past entries that are not shipped', () => {
    const buffer = new LogBuffer();
    expect(buffer.shippedCursor).toBeUndefined();
    buffer.read(entry('r1', T0), 0);
    buffer.read(entry('ssh', T0 + 1, { _SYSTEMD_UNIT: 'ssh.service' }), 0);
    buffer.read(entry('b1', T0 + 2, { _SYSTEMD_UNIT: 'cloud-final.service' }), 0);
    buffer.read(entry('r2', T0 + 3), 0);
    expect(buffer.readCursor).toBe(`s=1;i=${T0 + 3}`);
    // Nothing shipped: the next run starts over (no cursor to save beyond the first event).
    expect(buffer.shippedCursor).toBeUndefined();

    const runtime = buffer.nextBatch() as Batch;
    expect(runtime.group).toBe('runtime');
    buffer.ack(runtime);
    // r1 and r2 shipped, b1 not: resume right before b1, so ssh's entry is read again (and skipped).
    expect(buffer.shippedCursor).toBe(`s=1;i=${T0 + 1}`);

    buffer.ack(buffer.nextBatch() as Batch);
    expect(buffer.shippedCursor).toBe(`s=1;i=${T0 + 3}`);
    buffer.read(entry('ssh', T0 + 4, { _SYSTEMD_UNIT: 'ssh.service' }), 0);
    expect(buffer.shippedCursor).toBe(`s=1;i=${T0 + 4}`);
  });
});

describe('LogBuffer while CloudWatch is unreachable', () => {
  const size = 100_000;
  const big = (i: number, fields: Record<string, unknown> = {}) =>
    entry(`${i}:`.padEnd(size - 26, 'x'), T0 + i, fields);

  test('keeps at most maxBufferBytes, drops the oldest, and reports the count first once it recovers', () => {
    const buffer = buffered(
      Array.from({ length: 10 }, (_, i) => big(i)),
      PUT_LOG_EVENTS_LIMITS.maxEventBytes + 3 * size,
    );
    expect(buffer.pendingEvents).toBe(5);
    expect(buffer.pendingBytes).toBe(5 * size);

    const [batch, ...rest] = drain(buffer);
    expect(rest).toEqual([]);
    expect(batch.events[0]).toEqual({ timestamp: T0 + 4, message: droppedNotice(5) });
    expect(batch.events.slice(1).map((e) => e.message.split(':')[0])).toEqual(['5', '6', '7', '8', '9']);
    expect(buffer.pendingBytes).toBe(0);
    expect(buffer.nextBatch()).toBeUndefined();
  });

  test('a notice that fails to land is sent again, with the drops counted since', () => {
    const buffer = buffered(
      Array.from({ length: 8 }, (_, i) => big(i)),
      PUT_LOG_EVENTS_LIMITS.maxEventBytes + 3 * size,
    );
    expect(buffer.nextBatch()?.events[0].message).toBe(droppedNotice(3));
    buffer.read(big(8), 0);
    const batch = buffer.nextBatch() as Batch;
    expect(batch.events[0].message).toBe(droppedNotice(4));
    buffer.ack(batch);
    expect(buffer.nextBatch()).toBeUndefined();
  });

  test('a stream whose events were all dropped still gets its notice, before busier streams', () => {
    const buffer = buffered(
      [big(0, { _SYSTEMD_UNIT: 'cloud-final.service' }), ...Array.from({ length: 6 }, (_, i) => big(i + 1))],
      PUT_LOG_EVENTS_LIMITS.maxEventBytes + 3 * size,
    );
    const batches = drain(buffer);
    expect(batches[0]).toMatchObject({
      group: 'boot',
      events: [{ timestamp: T0, message: droppedNotice(1) }],
    });
    expect(batches[1].group).toBe('runtime');
    expect(batches[1].events[0].message).toBe(droppedNotice(1));
  });

  test('an event dropped while its batch was in flight is not reported dropped if the batch lands', () => {
    const buffer = buffered([big(0), big(1)], PUT_LOG_EVENTS_LIMITS.maxEventBytes + 3 * size);
    const inFlight = buffer.nextBatch() as Batch;
    for (let i = 2; i < 7; i++) buffer.read(big(i), 0);
    buffer.ack(inFlight);
    // 0 and 1 were evicted (the buffer holds five), but they landed with the batch in flight.
    const next = buffer.nextBatch() as Batch;
    expect(next.events.map((e) => e.message.split(':')[0])).toEqual(['2', '3', '4', '5', '6']);
    expect(next.droppedReported).toBe(0);
  });
});
