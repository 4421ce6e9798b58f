/**
 * Waiting for what a test means rather than for a length of time. `until` checks a condition every
 * few milliseconds until it holds, and fails naming what never happened; its deadline only guards
 * against a hang, so it is generous enough for a loaded 2-core machine and never what a test asserts.
 */

/** How long `until` waits by default before it gives up. */
export const UNTIL_MS = 20_000;

/** Resolves once `check` holds; rejects, naming `what` (the awaited event), if it does not in time. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = UNTIL_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}, in vain`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves as `promise` does; rejects, naming `what`, if it has not settled in time. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = UNTIL_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`waited ${timeoutMs / 1000} s for ${what}, in vain`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
