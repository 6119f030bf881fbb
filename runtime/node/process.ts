import type { Logger } from './log';

/** What a node process drains on SIGTERM / SIGINT. */
export interface Drainable {
  drain(): Promise<void>;
}

/** Stops the node with `stop` (default: its drain, as on SIGTERM), then exits 0; runs once. */
export type StopAndExit = (stop?: () => Promise<void>) => void;

/**
 * The process side of a node: starts it, drains it on SIGTERM or SIGINT (a second signal exits at
 * once), and logs every uncaught error. An uncaught exception leaves the process in an unknown
 * state, so it exits 1 after logging it (the fleet replaces the node); a stray rejected promise
 * is logged and the node carries on. `onStarted` gets the node and the same way out a signal
 * takes (a termination lifecycle hook drains through it); a signal during that stop joins it.
 */
export function runNode<N extends Drainable>(
  log: Logger,
  start: () => Promise<N>,
  onStarted?: (node: N, stopAndExit: StopAndExit) => void,
): void {
  process.on('uncaughtException', (err) => {
    log.error('uncaught_exception', { error: err, stack: err.stack });
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled_rejection', {
      error: reason,
      stack: reason instanceof Error ? reason.stack : undefined,
    });
  });

  let node: N | undefined;
  let stopping = false;
  const stopAndExit = (started: N, stop = () => started.drain()) => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('drain_failed', { error: err });
        process.exit(1);
      },
    );
  };
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled || !node) {
      log.warn('exit_on_signal', { signal });
      process.exit(1);
    }
    signalled = true;
    log.info('signal', { signal });
    stopAndExit(node);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  start().then(
    (started) => {
      node = started;
      onStarted?.(started, (stop) => stopAndExit(started, stop));
    },
    (err: unknown) => {
      log.error('start_failed', { error: err });
      process.exit(1);
    },
  );
}
