/**
 * Child processes for integration tests: the real executables, started the way a pod starts them, with
 * their stdout lines awaitable and their end guaranteed, by PID, when the test ends.
 */
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { Child } from "../../cli/demo/supervisor.js";

export { Child } from "../../cli/demo/supervisor.js";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The built entry point of an executable (npm test builds before it runs the tests). */
export function bin(name: "meshctl" | "trellis-proxy" | "trellis-controller"): string {
  const path = { meshctl: "cli", "trellis-proxy": "proxy", "trellis-controller": "control" }[name];
  return `${repoRoot}dist/${path}/main.js`;
}

/** The child's exit code (or signal); rejects, with its stderr, when it has not exited within `ms`. */
export async function exitWithin(child: Child, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms\n${child.stderr()}`)), ms);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a node script (a built executable); it is killed when the test ends if still running. */
export function startNode(
  t: TestContext | undefined,
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  return startCommand(t, process.execPath, [script, ...args], env);
}

/** Starts any command; it is killed when the test ends if still running. */
export function startCommand(
  t: TestContext | undefined,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  const child = new Child({
    name: command === process.execPath ? (args[0] ?? "node") : command,
    command,
    args,
    env,
    echoStderr: Boolean(process.env.TRELLIS_TEST_VERBOSE),
  });
  t?.after(async () => {
    if (child.running) {
      child.process.kill("SIGKILL");
      await child.exited;
    }
  });
  return child;
}
