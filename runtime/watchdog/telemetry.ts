import type { Action, Decision } from './core';

/** CloudWatch namespace of the watchdog's metrics; the construct's alarms read the same names. */
export const METRIC_NAMESPACE = 'RtcHa/Watchdog';

export const METRICS = {
  flags: 'Flags',
  suspects: 'Suspects',
  holds: 'Holds',
  cycleDuration: 'CycleDuration',
  /** Runs that did nothing because another run held the lock. */
  skippedRuns: 'SkippedRuns',
} as const;

/** Writes one JSON object as one line; the Lambda runtime turns each stdout line into a log event. */
export type LineSink = (line: Record<string, unknown>) => void;

export const stdoutSink: LineSink = (line) => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

export type ActionCounts = Record<Action, number>;

export function countActions(decisions: readonly Decision[]): ActionCounts {
  const counts: ActionCounts = { flag: 0, suspect: 0, ignore: 0, hold: 0 };
  for (const d of decisions) counts[d.action] += 1;
  return counts;
}

/** What became of a decision once the loop acted on it (only flags are acted on). */
export interface Outcome {
  readonly applied?: boolean;
  readonly error?: string;
}

/** One structured line per decision. */
export function decisionLine(
  cycle: number,
  decision: Decision,
  outcome: Outcome = {},
): Record<string, unknown> {
  const level = decision.action === 'flag' || decision.action === 'hold' ? 'warn' : 'info';
  return { level, msg: 'watchdog decision', cycle, ...decision, ...outcome };
}

/** One embedded-metric-format line per cycle: flags, suspects, holds and the cycle's duration. */
export function metricsLine(
  dimensions: Readonly<Record<string, string>>,
  counts: ActionCounts,
  durationMs: number,
  timestamp: number,
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: [
            { Name: METRICS.flags, Unit: 'Count' },
            { Name: METRICS.suspects, Unit: 'Count' },
            { Name: METRICS.holds, Unit: 'Count' },
            { Name: METRICS.cycleDuration, Unit: 'Milliseconds' },
          ],
        },
      ],
    },
    ...dimensions,
    [METRICS.flags]: counts.flag,
    [METRICS.suspects]: counts.suspect,
    [METRICS.holds]: counts.hold,
    [METRICS.cycleDuration]: durationMs,
  };
}

/** The embedded-metric-format line of a run that skipped: another run holds the lock. */
export function skippedRunLine(
  dimensions: Readonly<Record<string, string>>,
  timestamp: number,
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: [{ Name: METRICS.skippedRuns, Unit: 'Count' }],
        },
      ],
    },
    ...dimensions,
    [METRICS.skippedRuns]: 1,
  };
}
