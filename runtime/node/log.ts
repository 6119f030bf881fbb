/**
 * Structured logs: one JSON object per line on stdout, so CloudWatch (or `jq` locally) can filter
 * by node and event without parsing prose.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

type Level = 'info' | 'warn' | 'error';

export function createLogger(
  nodeId: string,
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const emit = (level: Level, event: string, fields: LogFields = {}) => {
    const line = { time: new Date().toISOString(), level, node: nodeId, event, ...fields };
    write(`${JSON.stringify(line, errorsAsText)}\n`);
  };
  return {
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}

/** For in-process tests that do not want the noise. */
export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

// Error objects stringify as {}: keep what helps an operator.
function errorsAsText(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
