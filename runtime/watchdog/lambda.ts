import { AwsFleet, createAwsClients } from './aws';
import type { RunLock } from './lock';
import { probeLive } from './probe';
import { connectRegistry, type Registry } from './registry';
import { readSecret } from './secret';
import { readSettings, type WatchdogSettings } from './settings';
import { stdoutSink, type LineSink } from './telemetry';
import { Watchdog, type Fleet, type LiveProbe, type RunSummary } from './watchdog';

/** No cycle starts with less than this left of the invocation: a cycle ends well before the timeout. */
export const CYCLE_BUDGET_MS = 8_000;

/** The run lock outlives the invocation's remaining time by this much: Lambda ends a run only around its timeout. */
export const RUN_LOCK_MARGIN_MS = 5_000;

/** The part of the Lambda context the handler uses. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/** What one invocation watches with, and how it lets go of it. */
export interface Connection {
  readonly registry: Registry;
  readonly fleet: Fleet;
  /** Keeps two invocations (a late or duplicated schedule) from watching at once. */
  readonly runLock: RunLock;
  close(): void;
}

/** The AUTH token from Secrets Manager, the registry over TLS, and the Auto Scaling groups. */
export async function connectAws(settings: WatchdogSettings): Promise<Connection> {
  const authToken = settings.authSecretArn
    ? await readSecret(settings.authSecretArn, settings.authSecretField)
    : undefined;
  const registry = await connectRegistry({
    url: settings.redisUrl,
    authToken,
    keyPrefix: settings.keyPrefix,
  });
  const fleet = new AwsFleet({
    groups: settings.groups,
    replicationGroupId: settings.replicationGroupId,
    clients: createAwsClients(),
  });
  return { registry: registry.reader, fleet, runLock: registry.runLock, close: registry.close };
}

export interface HandlerOptions {
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default connectAws */
  readonly connect?: (settings: WatchdogSettings) => Promise<Connection>;
  /** @default probeLive */
  readonly probe?: LiveProbe;
  /** @default stdoutSink */
  readonly sink?: LineSink;
}

/**
 * The scheduled run: take the run lock, then watch every `cycleMs` until shortly before the invocation
 * times out. A run with failed cycles or failed flags ends in an error, so the function's error alarm
 * tells the operator; a run that finds the lock held ends at once, as a skipped run.
 */
export function createHandler(options: HandlerOptions = {}) {
  const { env = process.env, connect = connectAws, probe = probeLive, sink = stdoutSink } = options;
  return async (_event: unknown, context: InvocationContext): Promise<RunSummary> => {
    const settings = readSettings(env);
    const connection = await connect(settings);
    try {
      const watchdog = new Watchdog({
        registry: connection.registry,
        fleet: connection.fleet,
        probe,
        policy: settings.policy,
        dimensions: { FunctionName: env.AWS_LAMBDA_FUNCTION_NAME ?? 'watchdog' },
        sink,
      });
      const summary = await watchdog.run({
        cycleMs: settings.cycleMs,
        shouldContinue: () => context.getRemainingTimeInMillis() > CYCLE_BUDGET_MS,
        lock: {
          runLock: connection.runLock,
          ttlMs: () => context.getRemainingTimeInMillis() + RUN_LOCK_MARGIN_MS,
        },
      });
      const level = summary.errors > 0 ? 'error' : summary.skipped ? 'warn' : 'info';
      sink({ level, msg: 'watchdog run', ...summary });
      if (summary.errors > 0) {
        throw new Error(`watchdog run: ${summary.errors} error(s) in ${summary.cycles} cycle(s)`);
      }
      return summary;
    } finally {
      connection.close();
    }
  };
}
