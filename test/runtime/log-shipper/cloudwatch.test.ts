import { isRetryable } from '../../../runtime/aws/retry';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { CloudWatchSink, isRejectedBatch, rejectedCount } from '../../../runtime/log-shipper/cloudwatch';

const logs = mockClient(CloudWatchLogsClient);
const logGroupName = '/rtc-ha/cluster/nodes';
const EVENTS = [
  { timestamp: 1, message: 'a' },
  { timestamp: 2, message: 'b' },
];

function sink(): CloudWatchSink {
  return new CloudWatchSink({
    client: new CloudWatchLogsClient({ region: 'us-east-1' }),
    logGroupName,
    instanceId: 'i-0abc',
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  });
}

function awsError(name: string, httpStatusCode: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode } });
}

beforeEach(() => {
  logs.reset();
  logs.on(CreateLogStreamCommand).resolves({});
  logs.on(PutLogEventsCommand).resolves({});
});

describe('CloudWatchSink.put', () => {
  test('creates each stream once, named instance id / group, then puts the events', async () => {
    const s = sink();
    await s.put('runtime', EVENTS);
    await s.put('runtime', EVENTS);
    await s.put('boot', EVENTS);

    expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 2);
    expect(logs).toHaveReceivedNthCommandWith(1, CreateLogStreamCommand, {
      logGroupName,
      logStreamName: 'i-0abc/runtime',
    });
    expect(logs).toHaveReceivedCommandWith(CreateLogStreamCommand, {
      logGroupName,
      logStreamName: 'i-0abc/boot',
    });
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 3);
    expect(logs).toHaveReceivedNthCommandWith(2, PutLogEventsCommand, {
      logGroupName,
      logStreamName: 'i-0abc/runtime',
      logEvents: EVENTS,
    });
  });

  test('a stream an earlier run created is fine', async () => {
    logs.on(CreateLogStreamCommand).rejects(awsError('ResourceAlreadyExistsException', 400));

    await expect(sink().put('boot', EVENTS)).resolves.toBe(0);
    expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 1);
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 1);
  });

  test.each([
    ['throttling', awsError('ThrottlingException', 400)],
    ['a 503', awsError('ServiceUnavailableException', 503)],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('%s is retried with backoff', async (_name, err) => {
    logs.on(PutLogEventsCommand).rejectsOnce(err).rejectsOnce(err).resolves({});

    await expect(sink().put('runtime', EVENTS)).resolves.toBe(0);
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 3);
  });

  test('throttling that outlasts the attempts fails the put (the loop keeps the batch)', async () => {
    logs.on(PutLogEventsCommand).rejects(awsError('ThrottlingException', 400));

    await expect(sink().put('runtime', EVENTS)).rejects.toThrow('ThrottlingException');
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 3);
  });

  test('a missing log group is not retried and the stream is tried again next time', async () => {
    logs.on(CreateLogStreamCommand).rejectsOnce(awsError('ResourceNotFoundException', 400)).resolves({});
    const s = sink();

    await expect(s.put('runtime', EVENTS)).rejects.toThrow('ResourceNotFoundException');
    expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 1);
    expect(logs).not.toHaveReceivedCommand(PutLogEventsCommand);

    await s.put('runtime', EVENTS);
    expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 2);
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 1);
  });

  test('a stream deleted under the shipper is created again on the next put', async () => {
    logs.on(PutLogEventsCommand).rejectsOnce(awsError('ResourceNotFoundException', 400)).resolves({});
    const s = sink();

    await expect(s.put('runtime', EVENTS)).rejects.toThrow('ResourceNotFoundException');
    await s.put('runtime', EVENTS);

    expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 2);
    expect(logs).toHaveReceivedCommandTimes(PutLogEventsCommand, 2);
  });

  test('events CloudWatch stored no copy of are counted', async () => {
    logs.on(PutLogEventsCommand).resolves({ rejectedLogEventsInfo: { tooOldLogEventEndIndex: 1 } });

    await expect(sink().put('runtime', EVENTS)).resolves.toBe(1);
  });
});

describe('error classes', () => {
  test.each([
    [awsError('ThrottlingException', 400), true, false],
    [awsError('ServiceUnavailableException', 503), true, false],
    [Object.assign(new Error('x'), { name: 'TimeoutError' }), true, false],
    [awsError('InvalidParameterException', 400), false, true],
    [awsError('AccessDeniedException', 400), false, false],
    ['a string', false, false],
  ])('%p: retryable %p, rejected batch %p', (err, retryable, rejected) => {
    expect(isRetryable(err)).toBe(retryable);
    expect(isRejectedBatch(err)).toBe(rejected);
  });

  test.each([
    [undefined, 0],
    [{ tooOldLogEventEndIndex: 2 }, 2],
    [{ tooOldLogEventEndIndex: 1, expiredLogEventEndIndex: 3 }, 3],
    [{ tooNewLogEventStartIndex: 8 }, 2],
    [{ expiredLogEventEndIndex: 1, tooNewLogEventStartIndex: 9 }, 2],
  ])('rejectedCount(%p) of 10 -> %p', (info, expected) => {
    expect(rejectedCount(info, 10)).toBe(expected);
  });
});
