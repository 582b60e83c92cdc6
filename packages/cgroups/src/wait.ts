/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `done` with a short exponential backoff (0.5 ms doubling to 50 ms) until it
 * returns true or `timeoutMs` passes; returns whether it became true. The kernel finishes
 * freezes, kills and exits asynchronously but usually within a millisecond, so the
 * first polls are close together.
 */
export async function pollUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let delay = 0.5;
  for (;;) {
    if (done()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}
