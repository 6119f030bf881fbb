/**
 * Runs Janus as the media agent's child: writes its private configuration, starts `janus -F`,
 * health-checks it over both APIs, notices its death at once (the child's exit and the close of
 * the agent's sockets to it, whichever comes first), restarts it with backoff and keeps the node
 * out of placement for a while after a restart. Janus holds every room of the node: a `down`
 * event means they are gone, and the agent moves them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../node/log';
import { JanusAdmin } from './admin';
import { JanusClient, JanusClientOptions } from './client';
import { JanusConfigFiles, JanusSpec, janusConfig } from './config';
import { JanusLoad, readJanusLoad } from './load';
import { ProcessCpuSampler, readOpenFilesLimit } from './procfs';
import { DEFAULT_RESTART_POLICY, RestartPolicy, crashesInARow, restartDelayMs } from './restart';

export interface JanusSupervisorOptions {
  readonly spec: JanusSpec;
  readonly log: Logger;
  /** @default 'janus' on PATH */
  readonly binary?: string;
  /**
   * The user Janus runs as. Janus never runs as root: an agent running as root must give one (on
   * a node the agent already runs as the unprivileged rtc-ha user, and Janus inherits it).
   */
  readonly runAs?: { readonly uid: number; readonly gid: number };
  /** @default DEFAULT_RESTART_POLICY */
  readonly restart?: RestartPolicy;
  /** Both APIs are pinged this often... @default 1_000 */
  readonly healthIntervalMs?: number;
  /** ...each ping must be answered within this... @default 1_000 */
  readonly healthTimeoutMs?: number;
  /** ...and a Janus failing this many checks in a row is killed and restarted. @default 3 */
  readonly unhealthyAfter?: number;
  /** A starting Janus must answer both APIs within this. @default 10_000 */
  readonly startTimeoutMs?: number;
  /** `stop()` sends SIGTERM, then SIGKILL after this. @default 5_000 */
  readonly stopGraceMs?: number;
  /**
   * Janus opens a few files per PeerConnection; below this soft limit it logs a warning. The
   * child inherits the agent's limit: on a node, systemd's LimitNOFILE on the agent's unit.
   * @default 65_536
   */
  readonly minOpenFiles?: number;
}

/** How a process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type JanusEvent =
  /** Janus answers both APIs; `restarts` counts the restarts before this one came up. */
  | { readonly type: 'up'; readonly pid: number; readonly restarts: number; readonly openFiles: number }
  /** Janus died or was killed for not answering: every room and session in it is gone. */
  | {
      readonly type: 'down';
      readonly pid: number;
      readonly reason: 'exited' | 'socket-closed' | 'unresponsive';
      /** How it exited, when the exit came first. */
      readonly exit?: ExitInfo;
      readonly restartInMs: number;
    };

/** One run of the Janus process, from spawn to exit. */
interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  exit?: ExitInfo;
  /** Its last lines of output, for errors. */
  readonly output: string[];
  up?: {
    readonly at: number;
    readonly client: JanusClient;
    readonly admin: JanusAdmin;
    readonly cpu: ProcessCpuSampler;
  };
  down: boolean;
  healthTimer?: NodeJS.Timeout;
  failedChecks: number;
}

const OUTPUT_LINES_KEPT = 20;

export class JanusSupervisor {
  readonly apiUrl: string;
  readonly adminUrl: string;
  private readonly files: JanusConfigFiles;
  private readonly policy: RestartPolicy;
  private readonly listeners = new Set<(event: JanusEvent) => void>();
  private run?: Run;
  private restartTimer?: NodeJS.Timeout;
  private crashes = 0;
  private restarts = 0;
  private quarantineUntil = 0;
  private stopping = false;

  constructor(private readonly options: JanusSupervisorOptions) {
    this.files = janusConfig(options.spec);
    this.policy = options.restart ?? DEFAULT_RESTART_POLICY;
    this.apiUrl = `ws://127.0.0.1:${options.spec.apiPort}`;
    this.adminUrl = `ws://127.0.0.1:${options.spec.adminPort}`;
    if (process.getuid?.() === 0 && !options.runAs) {
      throw new Error('Janus must not run as root: give runAs (an unprivileged uid and gid)');
    }
  }

  /** The running Janus's process id, while one runs. */
  get pid(): number | undefined {
    return this.run && !this.run.exit ? this.run.pid : undefined;
  }

  get isUp(): boolean {
    return this.run?.up !== undefined && !this.run.down;
  }

  /** Restarted less than `quarantineMs` ago: it lost every room it had, keep new ones away a while. */
  get recentlyRestarted(): boolean {
    return Date.now() < this.quarantineUntil;
  }

  /** Reasons the node should take no new session because of Janus; empty when it can. */
  readiness(): string[] {
    if (!this.isUp)
      return [this.restarts === 0 && !this.run?.down ? 'janus starting' : 'janus down (restarting)'];
    const reasons: string[] = [];
    if (this.run?.failedChecks) reasons.push(`janus not answering (${this.run.failedChecks} checks failed)`);
    if (this.recentlyRestarted) reasons.push('janus restarted recently');
    return reasons;
  }

  on(listener: (event: JanusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes the configuration, starts Janus and resolves once it answers; rejects with its last output if it cannot. */
  async start(): Promise<void> {
    this.writeConfig();
    try {
      this.becameUp(await this.launch());
    } catch (err) {
      this.removeConfig();
      throw err;
    }
  }

  /**
   * Pings Janus now, outside the periodic checks (a client saw its media stall): one that does not
   * answer within `timeoutMs` is taken for hung at once, killed and restarted. False then, or while down.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    const run = this.run;
    if (!run?.up || run.down) return false;
    try {
      await run.up.client.ping(timeoutMs);
      return true;
    } catch (err) {
      this.options.log.warn('janus_probe_failed', { pid: run.pid, error: err });
      this.wentDown(run, 'unresponsive');
      return false;
    }
  }

  /** The load figures now; undefined while Janus is down. */
  async load(): Promise<JanusLoad | undefined> {
    const up = this.isUp ? this.run?.up : undefined;
    return up && readJanusLoad(up.admin, up.cpu);
  }

  /** Stops Janus (SIGTERM, SIGKILL after the grace) and removes its configuration; no restart after it. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const run = this.run;
    if (run) {
      this.closeSockets(run);
      if (!run.exit) {
        run.child.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
        run.child.kill('SIGTERM');
        const kill = setTimeout(() => run.child.kill('SIGKILL'), this.options.stopGraceMs ?? 5_000);
        await run.exited;
        clearTimeout(kill);
      }
    }
    this.removeConfig();
    this.options.log.info('janus_stopped', { pid: run?.pid });
  }

  /** A new socket to this Janus's API; it closes when Janus dies, and its sessions die with it. */
  connectClient(options?: JanusClientOptions): Promise<JanusClient> {
    return JanusClient.connect(this.apiUrl, this.options.spec.apiSecret, options);
  }

  /** A new socket to this Janus's admin API, with the admin secret. */
  connectAdmin(): Promise<JanusAdmin> {
    return JanusAdmin.connect(this.adminUrl, this.options.spec.adminSecret);
  }

  /** Spawns Janus and waits until both APIs answer; kills it and rejects if it does not in time. */
  private async launch(): Promise<Run> {
    const { spec, runAs, log } = this.options;
    const [command, ...args] = diesWithParent([this.options.binary ?? 'janus', '-F', spec.configDir], {
      dropCapabilities: true,
    });
    const child = spawn(command, args, {
      cwd: spec.configDir,
      // Nothing of the agent's environment (Redis URL, secrets) reaches Janus.
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...runAs,
    });
    const output: string[] = [];
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        output.push(err.message);
        resolve({ code: null, signal: null });
      });
    });
    const run: Run = { child, pid: child.pid ?? -1, exited, output, down: false, failedChecks: 0 };
    exited.then((exit) => {
      run.exit = exit;
      this.wentDown(run, 'exited');
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (line.trim() === '') return;
        output.push(line);
        if (output.length > OUTPUT_LINES_KEPT) output.shift();
        log.info('janus_output', { pid: run.pid, line });
      });
    }
    this.run = run;

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (run.exit) break;
      const connected = await this.connect(run).catch(() => undefined);
      if (connected) return run;
      if (Date.now() > deadline) {
        run.child.kill('SIGKILL');
        await exited;
        throw new Error(
          `janus did not answer within ${this.options.startTimeoutMs ?? 10_000} ms:\n${output.join('\n')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const exit = await exited;
    const how = exit.signal ?? `exit code ${exit.code}`;
    throw new Error(`janus exited (${how}) before answering:\n${output.join('\n')}`);
  }

  /** Both API sockets, each answering a ping; the VideoRoom plugin must be loaded. */
  private async connect(run: Run): Promise<boolean> {
    const client = await this.connectClient();
    const admin = await this.connectAdmin().catch((err: unknown) => {
      client.close();
      throw err;
    });
    try {
      await client.ping();
      const info = await admin.info();
      if (!('janus.plugin.videoroom' in info.plugins))
        throw new Error('janus runs without the VideoRoom plugin');
      if (run.exit) throw new Error('janus exited');
      run.up = { at: Date.now(), client, admin, cpu: new ProcessCpuSampler(run.pid) };
      return true;
    } catch (err) {
      client.close();
      admin.close();
      throw err;
    }
  }

  private becameUp(run: Run): void {
    const up = run.up as NonNullable<Run['up']>;
    up.client.onClose(() => this.wentDown(run, 'socket-closed'));
    up.admin.onClose(() => this.wentDown(run, 'socket-closed'));
    run.healthTimer = setInterval(() => void this.check(run), this.options.healthIntervalMs ?? 1_000);
    const openFiles = readOpenFilesLimit(run.pid);
    const minOpenFiles = this.options.minOpenFiles ?? 65_536;
    if (openFiles < minOpenFiles) this.options.log.warn('janus_open_files_low', { openFiles, minOpenFiles });
    this.options.log.info('janus_up', { pid: run.pid, restarts: this.restarts, openFiles });
    this.emit({ type: 'up', pid: run.pid, restarts: this.restarts, openFiles });
  }

  private async check(run: Run): Promise<void> {
    const up = run.up;
    if (!up || run.down) return;
    const timeoutMs = this.options.healthTimeoutMs ?? 1_000;
    try {
      await Promise.all([up.client.ping(timeoutMs), up.admin.ping(timeoutMs)]);
      run.failedChecks = 0;
    } catch (err) {
      if (run.down) return;
      run.failedChecks += 1;
      this.options.log.warn('janus_check_failed', {
        pid: run.pid,
        failedChecks: run.failedChecks,
        error: err,
      });
      if (run.failedChecks >= (this.options.unhealthyAfter ?? 3)) this.wentDown(run, 'unresponsive');
    }
  }

  /** Once per run, whichever sign comes first; a Janus that did not exit by itself is killed. */
  private wentDown(run: Run, reason: 'exited' | 'socket-closed' | 'unresponsive'): void {
    if (run.down || this.stopping || !run.up) return;
    run.down = true;
    this.closeSockets(run);
    if (!run.exit) run.child.kill('SIGKILL');
    this.crashes = crashesInARow(this.policy, this.crashes, Date.now() - run.up.at);
    const restartInMs = restartDelayMs(this.policy, this.crashes);
    this.options.log.error('janus_down', {
      pid: run.pid,
      reason,
      exit: run.exit,
      crashes: this.crashes,
      restartInMs,
    });
    this.emit({ type: 'down', pid: run.pid, reason, exit: run.exit, restartInMs });
    void run.exited.then(() => this.scheduleRestart(restartInMs));
  }

  private scheduleRestart(delayMs: number): void {
    if (this.stopping) return;
    this.restartTimer = setTimeout(() => {
      this.launch().then(
        (run) => {
          if (this.stopping) return;
          this.restarts += 1;
          this.quarantineUntil = Date.now() + this.policy.quarantineMs;
          this.becameUp(run);
        },
        (err: unknown) => {
          // A restart that never came up is one more crash in the series.
          this.crashes += 1;
          const next = restartDelayMs(this.policy, this.crashes);
          this.options.log.error('janus_restart_failed', {
            error: err,
            crashes: this.crashes,
            restartInMs: next,
          });
          this.scheduleRestart(next);
        },
      );
    }, delayMs);
  }

  private closeSockets(run: Run): void {
    clearInterval(run.healthTimer);
    run.up?.client.close();
    run.up?.admin.close();
  }

  private emit(event: JanusEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** The configuration, readable by Janus's user only: it holds both secrets. */
  private writeConfig(): void {
    const dir = this.options.spec.configDir;
    const { files, links } = this.files;
    const owned: string[] = [dir];
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const sub of this.subdirs()) {
      mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
      owned.push(join(dir, sub));
    }
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), content, { mode: 0o600 });
      owned.push(join(dir, name));
    }
    for (const [link, target] of Object.entries(links)) {
      rmSync(join(dir, link), { force: true });
      symlinkSync(target, join(dir, link));
    }
    const { runAs } = this.options;
    if (runAs) for (const path of owned) chownSync(path, runAs.uid, runAs.gid);
  }

  /** Removes what `writeConfig` wrote (and the folder, once empty), nothing else. */
  private removeConfig(): void {
    const dir = this.options.spec.configDir;
    for (const name of [...Object.keys(this.files.files), ...Object.keys(this.files.links)]) {
      rmSync(join(dir, name), { force: true });
    }
    for (const sub of [...this.subdirs(), '.']) {
      try {
        rmdirSync(join(dir, sub));
      } catch {
        // not empty (something else lives there) or already gone: leave it
      }
    }
  }

  private subdirs(): string[] {
    const fromLinks = Object.keys(this.files.links).map((link) => dirname(link));
    return [...new Set([...fromLinks, ...this.files.emptyDirs])];
  }
}

/** util-linux's setpriv (Essential on Debian): sets the parent-death signal, then execs the command. */
const SETPRIV = '/usr/bin/setpriv';

/**
 * The command line that runs `command` so that it dies with the agent, even a SIGKILLed one: Node
 * cannot set PR_SET_PDEATHSIG on a child, setpriv can (`--pdeathsig KILL`, then exec: Janus keeps
 * the child's pid and the agent stays its parent; the signal survives the exec of a binary that is
 * not set-user-ID). Without setpriv, the command as it is: on a node, systemd's control group of
 * the agent's unit still kills a leftover Janus when the unit stops or restarts. `dropCapabilities`:
 * the child gets none of the agent's ambient capabilities (the unit grants CAP_NET_BIND_SERVICE for
 * coturn's port 443; Janus needs none).
 */
export function diesWithParent(
  command: readonly string[],
  { setpriv = SETPRIV, dropCapabilities = false }: { setpriv?: string; dropCapabilities?: boolean } = {},
): string[] {
  const [binary, ...args] = command;
  const path = binary && onPath(binary);
  // A binary not found is spawned as it is: its spawn error says so (ENOENT).
  if (!existsSync(setpriv) || !path) return [...command];
  const caps = dropCapabilities ? ['--ambient-caps', '-all'] : [];
  return [setpriv, '--pdeathsig', 'KILL', ...caps, '--', path, ...args];
}

function onPath(binary: string): string | undefined {
  if (binary.includes('/')) return existsSync(binary) ? binary : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}
