/**
 * Waits until `isEmpty` holds or `deadlineMs` passes, whichever is first (docs/architecture.md rule 6).
 * A failing check (Redis away) counts as "not empty yet".
 */
export async function untilEmptyOrDeadline(
  isEmpty: () => boolean | Promise<boolean>,
  deadlineMs: number,
  pollMs = 100,
): Promise<'empty' | 'deadline'> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const empty = await Promise.resolve()
      .then(isEmpty)
      .catch(() => false);
    if (empty) return 'empty';
    const left = deadline - Date.now();
    if (left <= 0) return 'deadline';
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
  }
}
