import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** How a child process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child process whose stdout and stderr go to a log file. */
export interface LoggedChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly logFile: string;
  /** Resolves when the process is gone (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Whether it has exited already. */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

/** Throws a clear error when `binary` cannot be run: the message says which package installs it. */
export function requireBinary(binary: string, debianPackage: string, versionFlag = '-v'): void {
  const probe = spawnSync(binary, [versionFlag], { stdio: 'ignore' });
  if (probe.error) {
    throw new Error(`${binary} not found: install it (Debian: apt-get install -y ${debianPackage})`);
  }
}

/** Starts `command` with stdout and stderr appended to `logFile`. */
export function spawnLogged(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): LoggedChild {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    const done = (info: ExitInfo) => {
      exitInfo ??= info;
      resolve(exitInfo);
    };
    child.once('exit', (code, signal) => done({ code, signal }));
    // spawn failures (ENOENT, EACCES) emit 'error' and no 'exit'
    child.once('error', () => done({ code: null, signal: null }));
  });
  return {
    name,
    process: child,
    logFile,
    exited,
    hasExited: () => exitInfo !== undefined,
    stop: async (graceMs = 3_000) => {
      if (exitInfo) return exitInfo;
      child.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const info = await exited;
      clearTimeout(timer);
      return info;
    },
  };
}

/** The last `lines` non-empty lines of a log file, for error messages ('' when unreadable). */
export function tailOf(logFile: string, lines = 8): string {
  try {
    return readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  }
}

/** "exit code 1" / "signal SIGKILL", for messages. */
export function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}
