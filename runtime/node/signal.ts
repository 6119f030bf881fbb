import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import type { Logger } from './log';

export interface SignalTarget {
  readonly stack: string;
  readonly resource: string;
}

/**
 * Tells CloudFormation this instance came up (SUCCESS) or cannot (FAILURE), for the group's
 * creation or update policy. A failed call is logged and ignored: a restarted process signals
 * again, and CloudFormation refusing a second signal is harmless.
 */
export async function signalResource(
  cfn: CloudFormationClient,
  target: SignalTarget,
  instanceId: string,
  status: 'SUCCESS' | 'FAILURE',
  log: Logger,
): Promise<void> {
  try {
    await cfn.send(
      new SignalResourceCommand({
        StackName: target.stack,
        LogicalResourceId: target.resource,
        UniqueId: instanceId,
        Status: status,
      }),
    );
    log.info('cloudformation_signalled', { status, ...target });
  } catch (err) {
    log.warn('cloudformation_signal_failed', { status, ...target, error: err });
  }
}

/** Runs `onReady` once, the first time `readiness` is empty (polled); returns a stop function. */
export function whenFirstReady(readiness: () => string[], onReady: () => void, everyMs = 500): () => void {
  const timer = setInterval(() => {
    if (readiness().length > 0) return;
    clearInterval(timer);
    onReady();
  }, everyMs);
  return () => clearInterval(timer);
}
