/**
 * `meshctl demo`: a whole mesh on this machine with no cluster. The identity and destination services,
 * and for each demo workload its app and its proxy, run as separate processes on loopback addresses of
 * their own, with traffic flowing and mTLS between every pair; the dashboard shows it live. What it
 * runs and how it stops: cli/demo/run.ts.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { type DemoOptions, runDemo } from "../demo/run.js";

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("expected a number of seconds above 0, e.g. 30");
  return n;
}

export function demoCommand(): Command {
  return new Command("demo")
    .description(
      "run a local mesh (control plane, demo apps and their proxies) with traffic flowing, and watch it live",
    )
    .option("--headless", "no UI: print one JSON line per ready proxy on stdout", false)
    .addOption(
      new Option("--duration <seconds>", "stop by itself after this many seconds").argParser(positiveSeconds),
    )
    .option("--issuance-lifetime <duration>", "lifetime of the proxies' certificates", "24h")
    .option("-v, --verbose", "copy every process's logs to stderr (tables instead of the dashboard)", false)
    .addHelpText(
      "after",
      `
In a terminal, the demo opens the dashboard on its own proxies once the mesh is up (keys: ↑/↓ select,
n namespace, s sort, q or Ctrl-C quit and stop the demo). The store it prints is the destination
service's directory: edit books-canary.yaml there and the canary's share follows. Without a terminal
(or with -v) it prints the golden metrics as a table every 5 s instead.

Examples:
  meshctl demo                          # the dashboard until q or Ctrl-C
  meshctl demo --headless --duration 60 # JSON lines for scripts and tests, stop after a minute

Headless output, one JSON object per line:
  {"trustAnchor": PATH}
  {"name", "identity", "app", "outbound", "inbound", "admin"}   (addresses as host:port)
  {"state": PATH}   where \`meshctl viz --demo\` finds the proxies; removed when the demo stops`,
    )
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts);
    });
}
