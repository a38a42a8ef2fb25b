/** A polling helper for tests whose server side finishes a moment after the client. */

/** Default poll interval of {@link waitFor}, ms. */
export const WAIT_FOR_INTERVAL = 5;

/**
 * Resolve with the first truthy value of `predicate`, polling every `intervalMs`.
 *
 * @example
 * ```ts
 * const message = await waitFor(() => server.messages[0]);
 * await waitFor(() => server.lastSession?.closed);
 * ```
 * @throws Error naming the timeout when `predicate` is still falsy after `timeoutMs`
 *   (default 2000); errors thrown by `predicate` propagate.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 2000,
  intervalMs = WAIT_FOR_INTERVAL,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value !== undefined && value !== null && value !== false && value !== 0 && value !== '') {
      return value as NonNullable<T>;
    }
    if (Date.now() >= deadline) throw new Error(`waitFor: condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
