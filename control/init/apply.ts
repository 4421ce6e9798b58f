/**
 * Applying the rules to one address family: read the nat table, build the restore input that leaves
 * one copy of our rules (rules.ts), apply it in one atomic `*-restore --noflush` (the table's other
 * rules stay as they are), then read the table back and check that it holds exactly our rules once.
 */
import type { FamilyTools, Run } from "./backend.js";
import { InitError } from "./errors.js";
import { desiredRules, type Family, ownRules, type RuleConfig, restoreInput } from "./rules.js";

/** How long a restore waits for the xtables lock another process holds (legacy; nft ignores it). */
const LOCK_WAIT_SECONDS = 10;

export interface Applied {
  /** What was given to iptables-restore. */
  input: string;
  /** Our rules as the nat table holds them afterwards: the jumps, then our chains as iptables-save lists them. */
  rules: string[];
}

function readNat(tools: FamilyTools, run: Run): string {
  const saved = run(tools.save, ["-t", "nat"]);
  if (saved.status !== 0)
    throw new InitError(
      "TRELLIS_E_INIT_SAVE_FAILED",
      `${tools.save} -t nat exited ${saved.status ?? "abnormally"}: ${saved.stderr.trim()}`,
    );
  return saved.stdout;
}

/** The failing line of a restore error (`line 7 failed`), quoted from the input, when it names one. */
function failingLine(stderr: string, input: string): string {
  const m = /line (\d+) failed/.exec(stderr);
  if (!m) return "";
  const line = input.split("\n")[Number(m[1]) - 1];
  return line === undefined ? "" : ` (line ${m[1]}: ${line})`;
}

export function applyFamily(tools: FamilyTools, family: Family, config: RuleConfig, run: Run): Applied {
  const input = restoreInput(config, family, readNat(tools, run));
  const args = ["--noflush", `--wait=${LOCK_WAIT_SECONDS}`];
  const restored = run(tools.restore, args, input);
  if (restored.status !== 0) {
    const stderr = restored.stderr.trim();
    throw new InitError(
      "TRELLIS_E_INIT_RESTORE_FAILED",
      `${tools.restore} ${args.join(" ")} exited ${restored.status ?? "abnormally"}: ${stderr}${failingLine(stderr, input)}`,
    );
  }
  const after = ownRules(readNat(tools, run));
  const expected = desiredRules(config, family);
  const jumps = [...after.jumps.values()];
  // Counted, not compared as text: another iptables version may print a rule in another canonical form.
  const jumpCount = jumps.reduce((n, lines) => n + lines.length, 0);
  if (after.chains.length + jumpCount !== expected.length || jumps.some((lines) => lines.length !== 1))
    throw new InitError(
      "TRELLIS_E_INIT_VERIFY_FAILED",
      `${tools.save} -t nat shows ${after.chains.length} rules in our chains and ` +
        `${jumps.map((l) => l.length).join("+")} jumps into them, where ${expected.length} rules in all ` +
        "were applied; run it to see the table",
    );
  return { input, rules: [...jumps.flat(), ...after.chains] };
}
