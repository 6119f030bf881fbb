import { Duration, Token } from 'aws-cdk-lib';

/** Thrown when props or configuration are invalid; its message lists every problem found. */
export class ValidationProblems extends Error {
  /**
   * @param subject what was validated, e.g. `MasterFleet props` or `rtc-ha configuration`
   * @param problems one message per problem, each naming its field
   */
  constructor(
    subject: string,
    public readonly problems: readonly string[],
  ) {
    super(`Invalid ${subject}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ValidationProblems';
  }
}

/** Throws one {@link ValidationProblems} listing `problems`, if there are any. */
export function throwIfProblems(subject: string, problems: readonly string[]): void {
  if (problems.length > 0) throw new ValidationProblems(subject, problems);
}

/** How a caller names fields whose names differ from the construct's, e.g. `{ cycle: 'cycleSeconds' }`. */
export type FieldNames = Readonly<Record<string, string>>;

/**
 * Collects the problems of one set of props so that a constructor, or the config loader, reports all
 * of them at once, each naming its field (as Solutions Constructs' `CheckXxxProps` do). Values that are
 * unresolved tokens are skipped: they are only known at deploy time. A problem is reported once, even
 * when two fields of the construct stand for one field of the caller.
 */
export class Problems {
  private readonly found: string[] = [];

  /**
   * @param prefix put before every field name, e.g. `masters.` when a config section is checked
   * @param names the caller's names of the fields, where they differ
   */
  constructor(
    private readonly prefix = '',
    private readonly names: FieldNames = {},
  ) {}

  /** Every problem recorded so far. */
  public get messages(): string[] {
    return [...this.found];
  }

  /** Records `message` against `field` unless `ok`. */
  public require(ok: boolean, field: string, message: string): void {
    const problem = `${this.prefix}${this.names[field] ?? field} ${message}`;
    if (!ok && !this.found.includes(problem)) this.found.push(problem);
  }

  /** Checks that an optional value is an integer from `min` to `max`. */
  public integer(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined || Token.isUnresolved(value)) return;
    this.require(
      Number.isInteger(value) && value >= min && value <= max,
      field,
      `must be an integer from ${min} to ${max} (got ${value})`,
    );
  }

  /** Checks that an optional duration is a whole number of `unit` from `min` to `max`. */
  public duration(
    field: string,
    value: Duration | undefined,
    unit: 'seconds' | 'minutes',
    min: number,
    max: number,
  ): void {
    if (value === undefined || value.isUnresolved()) return;
    const amount =
      unit === 'seconds' ? value.toSeconds({ integral: false }) : value.toMinutes({ integral: false });
    this.require(
      Number.isInteger(amount) && amount >= min && amount <= max,
      field,
      `must be whole ${unit} from ${min} to ${max} (got ${value.toHumanString()})`,
    );
  }

  /** Checks several optional integers of `values` against their `[min, max]` ranges. */
  public integers<T extends object>(
    values: T,
    ranges: { [K in keyof T]?: [number, number] },
    fieldPrefix = '',
  ): void {
    const record = values as Record<string, unknown>;
    for (const [key, [min, max]] of Object.entries(ranges) as [string, [number, number]][]) {
      this.integer(`${fieldPrefix}${key}`, record[key] as number | undefined, min, max);
    }
  }

  /** Checks that `value` is less than `limit` (the value of `limitField`) when both are known. */
  public less(field: string, value: number | undefined, limitField: string, limit: number | undefined): void {
    if (!concrete(value, limit)) return;
    this.require(value! < limit!, field, `must be less than ${limitField} (${value} >= ${limit})`);
  }

  /** Checks that an optional string matches `pattern`; `expected` says in words what it should be. */
  public matches(field: string, value: string | undefined, pattern: RegExp, expected: string): void {
    if (value === undefined || Token.isUnresolved(value)) return;
    this.require(pattern.test(value), field, `must be ${expected} (got "${value}")`);
  }
}

/** True when every value is a concrete number (not undefined, not a token), so they can be compared. */
export function concrete(...values: (number | undefined)[]): boolean {
  return values.every((v) => v !== undefined && !Token.isUnresolved(v));
}
