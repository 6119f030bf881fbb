import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import type { Imds } from './imds';
import type { Logger } from './log';

/** IMDS path Auto Scaling sets to `Terminated` as soon as it starts terminating the instance. */
export const TARGET_LIFECYCLE_STATE = 'autoscaling/target-lifecycle-state';

/** Time past the drain deadline after which the hook is completed whether the drain ended or not. */
export const DRAIN_HARD_CAP_MS = 10_000;

export interface TerminationWatchOptions {
  readonly imds: Imds;
  /** @default 2000 */
  readonly pollMs?: number;
  readonly log: Logger;
  /** Runs once, when the target lifecycle state reads `Terminated`. */
  readonly onTerminating: () => void;
}

/**
 * Polls the instance's target lifecycle state. 404 means "not in an Auto Scaling group yet" and
 * a failed read is retried next poll, both quietly: only `Terminated` acts. Returns a stop function.
 */
export function watchTermination(options: TerminationWatchOptions): () => void {
  const { imds, log, onTerminating, pollMs = 2_000 } = options;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  const poll = async () => {
    try {
      const state = await imds.get(TARGET_LIFECYCLE_STATE);
      failing = false;
      if (state === 'Terminated' && !stopped) {
        stopped = true;
        log.info('lifecycle_terminating');
        onTerminating();
        return;
      }
    } catch (err) {
      if (!failing) log.warn('lifecycle_state_unreadable', { error: err });
      failing = true;
    }
    if (!stopped) timer = setTimeout(() => void poll(), pollMs);
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Waits for `drain` at most `deadlineMs` plus the hard cap: a drain that hangs must not keep the
 * instance in its hook until the hook's own timeout.
 */
export async function boundedDrain(
  drain: () => Promise<void>,
  deadlineMs: number,
  capMs = DRAIN_HARD_CAP_MS,
): Promise<'drained' | 'cap'> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<'cap'>((resolve) => (timer = setTimeout(() => resolve('cap'), deadlineMs + capMs)));
  try {
    return await Promise.race([drain().then(() => 'drained' as const), cap]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often, and how long, completing is retried while the hook does not hold the instance yet. */
export interface CompleteRetry {
  readonly everyMs: number;
  readonly forMs: number;
}

/**
 * Lets Auto Scaling go on terminating this instance (CONTINUE). The target lifecycle state turns
 * `Terminated` as soon as Auto Scaling starts terminating, while the load balancer still deregisters
 * the instance; the hook holds it only after that, and completing earlier is refused ("No active
 * Lifecycle Action found"). So a refusal is retried until the hook holds the instance or `retry.forMs`
 * passes (the hook's own timeout then continues the termination). No heartbeat is recorded: the hook's
 * timeout is longer than the drain deadline plus the hard cap (the CDK side).
 */
export async function completeTermination(
  autoScaling: AutoScalingClient,
  hookName: string,
  instanceId: string,
  retry: CompleteRetry = { everyMs: 5_000, forMs: 3_600_000 },
): Promise<void> {
  const { AutoScalingInstances } = await autoScaling.send(
    new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
  );
  const groupName = AutoScalingInstances?.[0]?.AutoScalingGroupName;
  if (!groupName) throw new Error(`instance ${instanceId} is in no Auto Scaling group`);
  const complete = new CompleteLifecycleActionCommand({
    AutoScalingGroupName: groupName,
    LifecycleHookName: hookName,
    InstanceId: instanceId,
    LifecycleActionResult: 'CONTINUE',
  });
  const giveUpAt = Date.now() + retry.forMs;
  for (;;) {
    try {
      await autoScaling.send(complete);
      return;
    } catch (err) {
      const notHeldYet = err instanceof Error && err.name === 'ValidationError';
      if (!notHeldYet || Date.now() + retry.everyMs > giveUpAt) throw err;
      await new Promise((resolve) => setTimeout(resolve, retry.everyMs));
    }
  }
}
