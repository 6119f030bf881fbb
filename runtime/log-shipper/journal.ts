/**
 * The journal side: the journalctl command line, a child process whose JSON lines become entries,
 * and the file that remembers how far the shipper got.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { BOOT_UNITS, RUNTIME_UNIT, type JournalEntry } from './core';

/** A command that prints journal entries as JSON lines; tests run something else than journalctl. */
export interface JournalCommand {
  readonly command: string;
  /** Arguments for a run that starts after `cursor`, or at this boot without one. */
  readonly args: (cursor: string | undefined) => string[];
}

/** Fields the core reads; `__CURSOR` and `__REALTIME_TIMESTAMP` are always printed. */
const FIELDS = ['MESSAGE', '_SYSTEMD_UNIT', 'UNIT', '_TRANSPORT'];

/**
 * `journalctl` following the units that matter, OR-ed with `+`. Not `-u`: it cannot be OR-ed with
 * the kernel transport, and it expands globs only once, before cloud-init's later units have logged.
 * The shipper's own unit is not followed: its complaints about CloudWatch must not loop back.
 */
export function journalctlArgs(cursor: string | undefined): string[] {
  const units = [RUNTIME_UNIT, ...BOOT_UNITS];
  const matches = [
    ...units.flatMap((unit) => [`_SYSTEMD_UNIT=${unit}`, `UNIT=${unit}`]),
    // All kernel lines are read (a few thousand at boot); the core keeps only the OOM killer's.
    '_TRANSPORT=kernel',
  ];
  return [
    '--follow',
    '--no-tail',
    '--output=json',
    // Without it, json output turns fields longer than 4096 bytes into null.
    '--all',
    `--output-fields=${FIELDS.join(',')}`,
    // After a restart or a reboot, resume where the last run got (the cursor may be of an older boot).
    cursor ? `--after-cursor=${cursor}` : '--boot',
    ...matches.flatMap((m, i) => (i === 0 ? [m] : ['+', m])),
  ];
}

export const JOURNALCTL: JournalCommand = { command: 'journalctl', args: journalctlArgs };

export interface JournalHandlers {
  readonly onEntry: (entry: JournalEntry) => void;
  /** The command ended on its own (not through `stop`). */
  readonly onExit: (reason: string) => void;
}

/** One run of the journal command; its stderr goes to ours. */
export class JournalProcess {
  private readonly child: ChildProcess;
  private readonly closed: Promise<void>;
  private stopping = false;

  constructor(command: JournalCommand, cursor: string | undefined, handlers: JournalHandlers) {
    this.child = spawn(command.command, command.args(cursor), { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      const entry = parseLine(line);
      if (entry) handlers.onEntry(entry);
    });
    let failure = '';
    this.child.once('error', (err) => (failure = err.message));
    // 'close' comes after stdout ended (so after readline's last 'line'), also when spawning failed.
    this.closed = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        if (!this.stopping) handlers.onExit(failure || `${command.command} exited (${code ?? signal})`);
        resolve();
      }),
    );
  }

  /** Ends the command and resolves once every line it printed was handed over. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.closed;
  }
}

function parseLine(line: string): JournalEntry | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as JournalEntry)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cursor up to which the journal was shipped, in the state directory. Written through a
 * rename so a crash mid-write leaves the old cursor, never half of one.
 */
export class CursorFile {
  private saved: string | undefined;
  private failed = false;

  constructor(
    readonly file: string,
    private readonly warn: (line: string) => void,
  ) {}

  load(): string | undefined {
    try {
      this.saved = fs.readFileSync(this.file, 'utf8').trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`cannot read ${this.file}: ${err}`);
    }
    return this.saved;
  }

  save(cursor: string | undefined): void {
    if (cursor === undefined || cursor === this.saved) return;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(`${this.file}.tmp`, `${cursor}\n`);
      fs.renameSync(`${this.file}.tmp`, this.file);
      this.saved = cursor;
      this.failed = false;
    } catch (err) {
      // Once per outage: the shipper goes on, it only resumes from this boot after a restart.
      if (!this.failed) this.warn(`cannot save the journal cursor to ${this.file}: ${err}`);
      this.failed = true;
    }
  }
}
