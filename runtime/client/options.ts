/** `defaults`, overridden by every option of `given` that is set: an explicit `undefined` keeps the default. */
export function withDefaults<T extends object>(defaults: Required<T>, given: T | undefined): Required<T> {
  const result: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {})) if (value !== undefined) result[key] = value;
  return result as Required<T>;
}
