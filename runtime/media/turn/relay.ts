/**
 * Runs coturn as the media agent's child: writes its private configuration, starts `turnserver -c`,
 * counts it up once it answers a STUN Binding on its port, restarts it with backoff when it dies
 * and removes its files when stopped. Allocations live in coturn only: a restart drops them, and
 * clients' ICE falls back or restarts as it would after any relay loss.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../node/log';
import { DEFAULT_RESTART_POLICY, RestartPolicy, crashesInARow, restartDelayMs } from '../janus/restart';
import { diesWithParent } from '../janus/supervisor';
import { TURN_CONFIG_FILE, TURN_PID_FILE, TurnSpec, turnConfig } from './config';

/** What the agent holds of its TURN server. */
export interface TurnRelay {
  /** The running turnserver's process id, while one runs. */
  readonly pid: number | undefined;
  /** Why the node's relay cannot take allocations now; empty while it can. */
  readiness(): string[];
  /** Stops coturn (SIGTERM, SIGKILL after 5 s) and removes its files; no restart after it. */
  stop(): Promise<void>;
}

export interface TurnRelayOptions {
  /** @default 'turnserver' on PATH */
  readonly binary?: string;
  /** @default DEFAULT_RESTART_POLICY of ../janus (its quarantine does not apply: a relay holds no rooms) */
  readonly restart?: RestartPolicy;
  /** A starting coturn must answer STUN within this, or it is killed and restarted. @default 10_000 */
  readonly startTimeoutMs?: number;
}

/** Debian's unprivileged user: coturn started by a root agent binds its port, then becomes it. */
const NOBODY = { user: 'nobody', group: 'nogroup' };

/** `spec` without what the relay picks itself: its folder and, as root, the user coturn drops to. */
export type TurnSettings = Omit<TurnSpec, 'configDir' | 'runAs'>;

/**
 * Starts the node's TURN server and resolves once it answers or its first start failed: a failed
 * start is retried with backoff like a crash, and `readiness()` says why it is down meanwhile.
 */
export async function startTurnRelay(
  settings: TurnSettings,
  log: Logger,
  options: TurnRelayOptions = {},
): Promise<TurnRelay> {
  const relay = new TurnSupervisor(
    {
      ...settings,
      // Beside Janus's: the agent's unit has a private /tmp (PrivateTmp=yes).
      configDir: join(tmpdir(), `rtc-ha-turn-${randomBytes(6).toString('hex')}`),
      runAs: process.getuid?.() === 0 ? NOBODY : undefined,
    },
    log,
    options,
  );
  await relay.start();
  return relay;
}

/** How a process ended. */
interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One run of turnserver, from spawn to exit. */
interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt: number;
  readonly exited: Promise<ExitInfo>;
  readonly output: string[];
  exit?: ExitInfo;
  up: boolean;
  /** Why the supervisor killed it, when it did. */
  killedFor?: string;
}

const OUTPUT_LINES_KEPT = 10;
const PROBE_TIMEOUT_MS = 250;
const PROBE_INTERVAL_MS = 100;
const STOP_GRACE_MS = 5_000;

class TurnSupervisor implements TurnRelay {
  private readonly files: Readonly<Record<string, string>>;
  private readonly policy: RestartPolicy;
  private run?: Run;
  private crashes = 0;
  private restartTimer?: NodeJS.Timeout;
  private stopping = false;
  /** Why coturn is down, once it went down. */
  private downReason?: string;

  constructor(
    private readonly spec: TurnSpec,
    private readonly log: Logger,
    private readonly options: TurnRelayOptions,
  ) {
    this.files = turnConfig(spec);
    this.policy = options.restart ?? DEFAULT_RESTART_POLICY;
  }

  get pid(): number | undefined {
    return this.run && !this.run.exit ? this.run.pid : undefined;
  }

  readiness(): string[] {
    if (this.run?.up && !this.run.exit) return [];
    return [this.downReason ? `turn down (restarting): ${this.downReason}` : 'turn starting'];
  }

  async start(): Promise<void> {
    // Only coturn's user may read it: it holds the secret (and the TLS key).
    mkdirSync(this.spec.configDir, { recursive: true, mode: 0o700 });
    for (const [name, content] of Object.entries(this.files)) {
      writeFileSync(join(this.spec.configDir, name), content, { mode: 0o600 });
    }
    await this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const run = this.run;
    if (run && !run.exit) {
      run.child.kill('SIGTERM');
      const kill = setTimeout(() => run.child.kill('SIGKILL'), STOP_GRACE_MS);
      await run.exited;
      clearTimeout(kill);
    }
    for (const name of [...Object.keys(this.files), TURN_PID_FILE]) {
      rmSync(join(this.spec.configDir, name), { force: true });
    }
    try {
      rmdirSync(this.spec.configDir);
    } catch {
      // not empty (something else lives there) or already gone: leave it
    }
    this.log.info('turn_stopped', { pid: run?.pid });
  }

  /** Spawns coturn and waits until it answers STUN, it exits, or the start timeout kills it. */
  private async launch(): Promise<void> {
    const command = [this.options.binary ?? 'turnserver', '-c', join(this.spec.configDir, TURN_CONFIG_FILE)];
    const [binary, ...args] = diesWithParent(command);
    // Nothing of the agent's environment (Redis URL, secrets) reaches coturn.
    const child = spawn(binary, args, { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        output.push(err.message);
        resolve({ code: null, signal: null });
      });
    });
    const run: Run = { child, pid: child.pid ?? -1, startedAt: Date.now(), exited, output, up: false };
    this.run = run;
    void exited.then((exit) => this.exited(run, exit));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (line.trim() === '') return;
        output.push(line);
        if (output.length > OUTPUT_LINES_KEPT) output.shift();
        this.log.info('turn_output', { pid: run.pid, line });
      });
    }

    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    while (!run.exit && !this.stopping) {
      if (await stunAnswers(this.spec.iceAddress, this.spec.port, PROBE_TIMEOUT_MS)) {
        if (run.exit || this.stopping) return;
        run.up = true;
        this.downReason = undefined;
        this.log.info('turn_up', { pid: run.pid, address: this.spec.iceAddress, port: this.spec.port });
        return;
      }
      if (Date.now() > deadline) {
        run.killedFor = `no STUN answer on ${this.spec.iceAddress}:${this.spec.port} within ${timeoutMs} ms`;
        run.child.kill('SIGKILL');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    }
    await exited;
  }

  /** Every exit but stop()'s is a crash: restarted after the policy's delay. */
  private exited(run: Run, exit: ExitInfo): void {
    run.exit = exit;
    if (this.stopping) return;
    this.crashes = crashesInARow(this.policy, this.crashes, run.up ? Date.now() - run.startedAt : 0);
    const restartInMs = restartDelayMs(this.policy, this.crashes);
    const how = exit.signal ?? (exit.code === null ? 'not started' : `exit code ${exit.code}`);
    // coturn retries a bind it may not make until the start timeout: say what fixes that.
    const cause = run.output.some((line) => line.includes('Permission denied'))
      ? `it may not bind port ${this.spec.port} (below 1024 takes CAP_NET_BIND_SERVICE, as the rtc-ha media unit grants)`
      : (run.output.at(-1) ?? 'no output');
    this.downReason = `${run.killedFor ?? `turnserver ${how}`}: ${cause}`;
    this.log.error('turn_down', {
      pid: run.pid,
      reason: this.downReason,
      output: run.output,
      crashes: this.crashes,
      restartInMs,
    });
    this.restartTimer = setTimeout(() => void this.launch(), restartInMs);
  }
}

/** Whether a STUN Binding request to host:port over UDP gets its success response within `timeoutMs`. */
function stunAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request, no attributes
  request.writeUInt32BE(0x2112a442, 4); // magic cookie
  const transaction = randomBytes(12);
  transaction.copy(request, 8);
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let settled = false;
    const done = (answered: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('message', (reply) => {
      if (reply.length >= 20 && reply.readUInt16BE(0) === 0x0101 && reply.subarray(8, 20).equals(transaction))
        done(true);
    });
    socket.on('error', () => done(false));
    socket.send(request, port, host);
  });
}
