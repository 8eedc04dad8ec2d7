/**
 * Runs `tasks` with at most `limit` at a time (a browser opens about six
 * connections per host: the rest would queue behind them anyway), and
 * settles when all have. A failed task does not stop the others; the
 * errors are returned.
 */
export async function runLimited(tasks: readonly (() => Promise<void>)[], limit: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      if (!task) continue;
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return errors;
}

/** True for the rejection of an aborted fetch. */
export function isAbortError(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** A message to show for a failed request. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
