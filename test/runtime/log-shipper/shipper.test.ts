import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type PutLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogBuffer } from '../../../runtime/log-shipper/core';
import { CursorFile, type JournalCommand } from '../../../runtime/log-shipper/journal';
import { Shipper, main } from '../../../runtime/log-shipper/shipper';

const logs = mockClient(CloudWatchLogsClient);
const T0 = Date.UTC(2026, 0, 1, 10);

/**
 * A stand-in for journalctl: prints the fixture's entries after the cursor it is given, holds
 * back those marked HELD until SIGTERM (entries logged while the unit stops), and records its arguments.
 */
const FAKE_JOURNALCTL = `
const fs = require('fs');
const [file, cursor] = process.argv.slice(1);
fs.writeFileSync(file + '.args', JSON.stringify(process.argv.slice(1)));
const lines = fs.readFileSync(file, 'utf8').trim().split('\\n');
const start = cursor ? lines.findIndex((l) => JSON.parse(l).__CURSOR === cursor) + 1 : 0;
const rest = lines.slice(start);
process.stdout.write(rest.filter((l) => !JSON.parse(l).HELD).map((l) => l + '\\n').join(''));
process.on('SIGTERM', () => {
  const held = rest.filter((l) => JSON.parse(l).HELD).map((l) => l + '\\n').join('');
  process.stdout.write(held, () => process.exit(0));
});
setInterval(() => {}, 1000);
`;

function line(i: number, unit: string, message: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    __CURSOR: `s=b;i=${i}`,
    __REALTIME_TIMESTAMP: String((T0 + i) * 1000),
    _SYSTEMD_UNIT: unit,
    MESSAGE: message,
    ...extra,
  });
}

let dir: string;
let fixture: string;
let imds: http.Server;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  logs.reset();
  logs.on(CreateLogStreamCommand).resolves({});
  logs.on(PutLogEventsCommand).resolves({});
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-shipper-'));
  fixture = path.join(dir, 'journal.jsonl');
  imds = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') res.end('token');
    else if (req.url === '/latest/meta-data/instance-id') res.end('i-0abc');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve));
  env = {
    RTC_BOOT_LOG_GROUP: '/rtc-ha/nodes',
    RTC_BOOT_REGION: 'us-east-1',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
    STATE_DIRECTORY: path.join(dir, 'state'),
  };
});

afterEach(() => {
  imds.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const journal: JournalCommand = {
  command: process.execPath,
  args: (cursor) => ['-e', FAKE_JOURNALCTL, fixture, ...(cursor ? [cursor] : [])],
};

function puts(): PutLogEventsCommandInput[] {
  return logs.commandCalls(PutLogEventsCommand).map((call) => call.args[0].input);
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

test('ships the journal in ordered batches per stream, flushes on SIGTERM, and resumes from its cursor', async () => {
  fs.writeFileSync(
    fixture,
    [
      line(1, 'cloud-final.service', 'installing rtc-ha'),
      line(2, 'rtc-ha.service', '{"event":"started"}'),
      line(3, 'ssh.service', 'not ours'),
      line(4, 'rtc-ha-logs.service', 'our own complaint'),
      line(5, 'rtc-ha.service', [104, 105]),
      line(6, 'cloud-final.service', 'done'),
      line(7, 'rtc-ha.service', '{"event":"draining"}', { HELD: true }),
      line(8, undefined as unknown as string, 'Out of memory: Killed process 9 (node)', {
        _TRANSPORT: 'kernel',
        HELD: true,
      }),
    ].join('\n') + '\n',
  );
  const signals = new EventEmitter();
  const warn = jest.fn();
  const client = new CloudWatchLogsClient({ region: 'us-east-1' });

  const running = main(env, { journal, client, signals, warn, flushIntervalMs: 50 });
  await until(() => puts().length >= 2);
  signals.emit('SIGTERM');

  await expect(running).resolves.toBe(0);
  const stream = (name: string) =>
    puts()
      .filter((p) => p.logStreamName === `i-0abc/${name}`)
      .map((p) => p.logEvents);
  expect(stream('boot')).toEqual([
    [
      { timestamp: T0 + 1, message: '[cloud-final.service] installing rtc-ha' },
      { timestamp: T0 + 6, message: '[cloud-final.service] done' },
    ],
  ]);
  // The entries printed after SIGTERM went out in the flush on stop.
  expect(stream('runtime')).toEqual([
    [
      { timestamp: T0 + 2, message: '{"event":"started"}' },
      { timestamp: T0 + 5, message: 'hi' },
    ],
    [{ timestamp: T0 + 7, message: '{"event":"draining"}' }],
  ]);
  expect(stream('kernel')).toEqual([
    [{ timestamp: T0 + 8, message: '[kernel] Out of memory: Killed process 9 (node)' }],
  ]);
  expect(logs).toHaveReceivedCommandTimes(CreateLogStreamCommand, 3);
  expect(puts().every((p) => p.logGroupName === '/rtc-ha/nodes')).toBe(true);
  expect(JSON.parse(fs.readFileSync(`${fixture}.args`, 'utf8'))).toEqual([fixture]);
  expect(fs.readFileSync(path.join(dir, 'state', 'cursor'), 'utf8').trim()).toBe('s=b;i=8');

  // The next run starts right after what was shipped.
  logs.resetHistory();
  fs.appendFileSync(fixture, line(9, 'rtc-ha.service', '{"event":"restarted"}') + '\n');
  const again = main(env, {
    journal,
    client: new CloudWatchLogsClient({ region: 'us-east-1' }),
    signals,
    warn,
    flushIntervalMs: 50,
  });
  await until(() => puts().length >= 1);
  signals.emit('SIGTERM');

  await expect(again).resolves.toBe(0);
  expect(JSON.parse(fs.readFileSync(`${fixture}.args`, 'utf8'))).toEqual([fixture, 's=b;i=8']);
  expect(puts().map((p) => p.logEvents)).toEqual([[{ timestamp: T0 + 9, message: '{"event":"restarted"}' }]]);
});

test('while CloudWatch fails, nothing is lost from the buffer and one line says so', async () => {
  logs.on(PutLogEventsCommand).rejects(
    Object.assign(new Error('down'), {
      name: 'ServiceUnavailableException',
      $metadata: { httpStatusCode: 503 },
    }),
  );
  fs.writeFileSync(fixture, line(1, 'rtc-ha.service', 'a') + '\n');
  const signals = new EventEmitter();
  const warn = jest.fn();

  const running = main(env, {
    journal,
    client: new CloudWatchLogsClient({ region: 'us-east-1' }),
    signals,
    warn,
    flushIntervalMs: 20,
    stopFlushMs: 0,
  });
  await until(() => logs.commandCalls(PutLogEventsCommand).length >= 6);
  signals.emit('SIGTERM');

  await expect(running).resolves.toBe(0);
  const lines = warn.mock.calls.map(([l]) => l as string);
  expect(lines.filter((l) => l.includes('cannot ship'))).toHaveLength(1);
  expect(lines.at(-1)).toMatch(/stopped with 1 events not shipped/);
  expect(fs.existsSync(path.join(dir, 'state', 'cursor'))).toBe(false);
});

test('without RTC_BOOT_LOG_GROUP, shipping is off and the unit exits 0', async () => {
  const warn = jest.fn();
  await expect(main({ RTC_BOOT_REGION: 'us-east-1' }, { warn })).resolves.toBe(0);
  expect(warn).toHaveBeenCalledWith('RTC_BOOT_LOG_GROUP is not set: log shipping is disabled');
  expect(logs).not.toHaveReceivedAnyCommand();
});

test('a log group without a region is a configuration error', async () => {
  const warn = jest.fn();
  await expect(main({ RTC_BOOT_LOG_GROUP: '/rtc-ha/nodes' }, { warn })).resolves.toBe(2);
  expect(warn.mock.calls[0][0]).toMatch(/RTC_BOOT_REGION: required/);
});

test('a journal command that ends is run again: after the last entry read, or from this boot if its cursor gave nothing', async () => {
  fs.writeFileSync(
    fixture,
    [line(1, 'rtc-ha.service', 'a'), line(2, 'rtc-ha.service', 'b')].join('\n') + '\n',
  );
  const starts: (string | undefined)[] = [];
  const warn = jest.fn();
  const shipper = new Shipper({
    buffer: new LogBuffer(),
    sink: { streamName: (g) => g, put: async () => 0 },
    // Refuses any cursor (as journalctl does one it cannot seek to), else prints both entries and ends.
    journal: {
      command: process.execPath,
      args: (cursor) => {
        starts.push(cursor);
        return [
          '-e',
          cursor
            ? 'process.exit(1)'
            : `process.stdout.write(require('fs').readFileSync(${JSON.stringify(fixture)}))`,
        ];
      },
    },
    cursorFile: Object.assign(new CursorFile(path.join(dir, 'cursor'), warn), { load: () => 'garbage' }),
    warn,
    flushIntervalMs: 20,
    restartDelayMs: 10,
  });

  const running = shipper.run();
  await until(() => starts.length >= 4);
  shipper.stop();
  await running;

  expect(starts.slice(0, 4)).toEqual(['garbage', undefined, 's=b;i=2', undefined]);
  expect(warn).toHaveBeenCalledWith(
    expect.stringMatching(/exited \(1\); running it again in 10 ms from this boot/),
  );
});
