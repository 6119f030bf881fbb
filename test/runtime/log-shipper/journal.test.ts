import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JournalEntry } from '../../../runtime/log-shipper/core';
import { CursorFile, JournalProcess, journalctlArgs } from '../../../runtime/log-shipper/journal';

describe('journalctlArgs', () => {
  test.each([
    ['no cursor: this boot', undefined, '--boot'],
    ['a cursor: right after it', 's=ab;i=12', '--after-cursor=s=ab;i=12'],
  ])('%s', (_name, cursor, start) => {
    const args = journalctlArgs(cursor);
    expect(args.slice(0, 6)).toEqual([
      '--follow',
      '--no-tail',
      '--output=json',
      '--all',
      '--output-fields=MESSAGE,_SYSTEMD_UNIT,UNIT,_TRANSPORT',
      start,
    ]);
    const matches = args.slice(6);
    // Matches alternate with '+', so they are OR-ed.
    expect(matches.filter((_, i) => i % 2 === 1).every((m) => m === '+')).toBe(true);
    const terms = matches.filter((_, i) => i % 2 === 0);
    expect(terms).toEqual(
      expect.arrayContaining([
        '_SYSTEMD_UNIT=rtc-ha.service',
        'UNIT=rtc-ha.service',
        '_SYSTEMD_UNIT=cloud-init.service',
        '_SYSTEMD_UNIT=cloud-final.service',
        '_TRANSPORT=kernel',
      ]),
    );
    expect(terms.some((t) => t.includes('rtc-ha-logs'))).toBe(false);
  });
});

describe('JournalProcess', () => {
  test('hands over every JSON object line, skips the rest, and reports an exit of its own', async () => {
    const entries: JournalEntry[] = [];
    const exited = new Promise<string>((resolve) => {
      new JournalProcess(
        {
          command: process.execPath,
          args: (cursor) => [
            '-e',
            `console.log('{"MESSAGE":"a","C":"${cursor}"}\\nnot json\\n[1]\\n{"MESSAGE":"b"}'); process.exit(3)`,
          ],
        },
        'c1',
        { onEntry: (e) => entries.push(e), onExit: resolve },
      );
    });

    expect(await exited).toMatch(/exited \(3\)/);
    expect(entries).toEqual([{ MESSAGE: 'a', C: 'c1' }, { MESSAGE: 'b' }]);
  });

  test('a command that cannot start is reported, not thrown', async () => {
    const reason = await new Promise<string>((resolve) => {
      new JournalProcess({ command: '/nonexistent/journalctl', args: () => [] }, undefined, {
        onEntry: () => {},
        onExit: resolve,
      });
    });
    expect(reason).toMatch(/ENOENT/);
  });

  test('stop ends the command after handing over what it printed, without reporting an exit', async () => {
    const entries: JournalEntry[] = [];
    const onExit = jest.fn();
    const journal = new JournalProcess(
      {
        command: process.execPath,
        args: () => [
          '-e',
          `console.log('{"MESSAGE":"first"}');
           process.on('SIGTERM', () => process.stdout.write('{"MESSAGE":"last"}\\n', () => process.exit(0)));
           setInterval(() => {}, 1000);`,
        ],
      },
      undefined,
      { onEntry: (e) => entries.push(e), onExit },
    );
    while (entries.length === 0) await new Promise((r) => setTimeout(r, 20));

    await journal.stop();

    expect(entries).toEqual([{ MESSAGE: 'first' }, { MESSAGE: 'last' }]);
    expect(onExit).not.toHaveBeenCalled();
  });
});

describe('CursorFile', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-logs-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('none yet, then the saved cursor, in a directory it creates', () => {
    const file = path.join(dir, 'state', 'cursor');
    const warn = jest.fn();
    expect(new CursorFile(file, warn).load()).toBeUndefined();

    const cursors = new CursorFile(file, warn);
    cursors.save(undefined);
    expect(fs.existsSync(file)).toBe(false);
    cursors.save('s=1;i=2');

    expect(new CursorFile(file, warn).load()).toBe('s=1;i=2');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['cursor']);
    expect(warn).not.toHaveBeenCalled();
  });

  test('a directory it cannot write is reported once, and the shipper goes on', () => {
    fs.writeFileSync(path.join(dir, 'file'), '');
    const warn = jest.fn();
    const cursors = new CursorFile(path.join(dir, 'file', 'cursor'), warn);

    cursors.save('a');
    cursors.save('b');

    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/cannot save the journal cursor/);
  });
});
