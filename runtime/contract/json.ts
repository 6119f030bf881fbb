/** JSON.parse that answers `undefined` instead of throwing: input from Redis or the wire is untrusted. */
export function parseJsonOrUndefined(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
