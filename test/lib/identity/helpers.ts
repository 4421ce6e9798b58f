/**
 * Small awaitables over the identity client's events, and token files written the way the kubelet
 * rotates them (a new file renamed into place).
 */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { IdentityClient, IdentityTransition } from "../../../lib/identity/client.js";
import type { Credentials } from "../../../lib/identity/credentials.js";

/** Resolves with the next transition the predicate accepts. */
export function nextTransition(
  client: IdentityClient,
  pred: (t: IdentityTransition) => boolean,
  timeoutMs = 15_000,
): Promise<IdentityTransition> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`no matching identity transition within ${timeoutMs} ms (state ${client.status().state})`),
      );
    }, timeoutMs);
    const off = client.onTransition((t) => {
      if (!pred(t)) return;
      clearTimeout(timer);
      off();
      resolve(t);
    });
  });
}

/** Resolves with the next certificate delivered to subscribers after this call (not the current one). */
export function nextCredentials(client: IdentityClient, timeoutMs = 15_000): Promise<Credentials> {
  const before = client.current();
  return new Promise((resolve, reject) => {
    let off = (): void => {};
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no new certificate within ${timeoutMs} ms (state ${client.status().state})`));
    }, timeoutMs);
    off = client.subscribe((c) => {
      if (c === before) return;
      clearTimeout(timer);
      queueMicrotask(() => off());
      resolve(c);
    });
  });
}

/** A token file in a temp dir removed after the test; replace() swaps it atomically, as the kubelet does. */
export async function tokenFile(
  t: TestContext,
  token: string,
): Promise<{ path: string; replace(token: string): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-token-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "token");
  let n = 0;
  const replace = async (value: string) => {
    const tmp = join(dir, `.token-${n++}`);
    await writeFile(tmp, value, { mode: 0o600 });
    await rename(tmp, path);
  };
  await replace(token);
  return { path, replace };
}

export { freePort } from "../../support/ports.js";
