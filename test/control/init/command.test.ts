// `trellis-controller init`: the run's decisions against a small in-memory iptables (backend choice, one
// copy after reruns, the IPv6 policy, every failure's one line on stderr), then the real executable:
// the flags (usage errors in one line naming the flag; the injector's own arguments accepted as it
// renders them), and the executable: the --dry-run golden and exit 2 for a bad flag.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { CommanderError } from "commander";
import {
  crossCheck,
  type InitFlags,
  type InitIo,
  initCommand,
  type Run,
  runInit,
} from "../../../control/init/index.js";
import { initContainer } from "../../../control/injector/proxy.js";
import { assertGolden } from "../../support/golden.js";
import { defaultInjectorConfig } from "../../support/install.js";
import { repoRoot } from "../../support/process.js";

const FLAGS: InitFlags = {
  incomingProxyPort: 4143,
  outgoingProxyPort: 4140,
  proxyUid: 2102,
  inboundPortsToIgnore: [{ low: 8000, high: 8010 }],
  outboundPortsToIgnore: [],
  iptablesMode: "auto",
  ipv6: "auto",
  dryRun: false,
};

/**
 * iptables as far as trellis-init uses it: `*-save` prints the nat table, `*-restore --noflush` applies
 * chain declarations (flush), `-A` and `-D` atomically. One table per tool prefix (`iptables-nft`, ...).
 */
class FakeIptables {
  readonly tables = new Map<string, string[]>();
  readonly calls: string[] = [];
  failRestore = new Map<string, string>();
  ignoreRestore = false;

  run: Run = (command, args, input) => {
    this.calls.push([command, ...args].join(" "));
    const m = /^\/sbin\/(ip6?tables-(?:nft|legacy))-(save|restore)$/.exec(command);
    if (!m) return { status: 127, stdout: "", stderr: `${command}: not found` };
    const [, prefix = "", tool] = m;
    const table = this.tables.get(prefix) ?? [];
    if (tool === "save") return { status: 0, stdout: `*nat\n${table.join("\n")}\nCOMMIT\n`, stderr: "" };
    const failure = this.failRestore.get(prefix);
    if (failure) return { status: 2, stdout: "", stderr: failure };
    if (this.ignoreRestore) return { status: 0, stdout: "", stderr: "" };
    const next = [...table];
    for (const line of (input ?? "").split("\n")) {
      const declared = /^:(\S+) /.exec(line)?.[1];
      if (declared)
        for (let i = next.length - 1; i >= 0; i--)
          if (next[i]?.startsWith(`-A ${declared} `)) next.splice(i, 1);
      if (line.startsWith("-A ")) next.push(line);
      if (line.startsWith("-D ")) {
        const i = next.indexOf(line.replace(/^-D /, "-A "));
        if (i < 0) return { status: 1, stdout: "", stderr: "iptables-restore: line 9 failed" };
        next.splice(i, 1);
      }
    }
    this.tables.set(prefix, next);
    return { status: 0, stdout: "", stderr: "" };
  };
}

function io(
  fake: FakeIptables,
  opts: { tools?: string[]; ipv6?: { enabled: boolean; globalAddress: boolean } } = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const present = new Set(
    opts.tools ??
      ["iptables", "ip6tables"].flatMap((f) =>
        ["nft", "legacy"].flatMap((b) => [`${f}-${b}-save`, `${f}-${b}-restore`]),
      ),
  );
  const value: InitIo = {
    run: fake.run,
    find: (name) => (present.has(name) ? `/sbin/${name}` : undefined),
    ipv6: () => opts.ipv6 ?? { enabled: true, globalAddress: false },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  };
  return { io: value, out, err };
}

test("auto on an empty namespace: nft, both families, and a rerun leaves one copy", () => {
  const fake = new FakeIptables();
  const first = io(fake);
  assert.equal(runInit(FLAGS, first.io), 0);
  assert.deepEqual(first.err, []);
  assert.match(first.out[0] ?? "", /^trellis-init: iptables backend nft \(auto: no rules in either backend/);
  assert.ok(
    first.out.some((l) => l.startsWith("trellis-init: IPv4: applied with /sbin/iptables-nft-restore")),
  );
  assert.ok(
    first.out.some((l) => l.startsWith("trellis-init: IPv6: applied with /sbin/ip6tables-nft-restore")),
  );
  assert.equal(first.out.at(-1), "trellis-init: done");
  const v4 = [...(fake.tables.get("iptables-nft") ?? [])];
  assert.equal(v4.length, 11);
  assert.equal(fake.tables.get("iptables-legacy"), undefined);

  const second = io(fake);
  assert.equal(runInit(FLAGS, second.io), 0);
  assert.match(second.out[0] ?? "", /nft holds this namespace's rules: nft 22 rules, legacy 0 rules/);
  assert.ok(!second.out.some((l) => l.includes("replacing")));
  assert.deepEqual(fake.tables.get("iptables-nft")?.toSorted(), v4.toSorted());

  // A stray duplicate jump is removed on the next run.
  fake.tables.get("iptables-nft")?.push("-A OUTPUT -j TRELLIS_OUTPUT");
  const third = io(fake);
  assert.equal(runInit(FLAGS, third.io), 0);
  assert.ok(third.out.some((l) => l.includes("(replacing 2 earlier jumps)")));
  assert.deepEqual(fake.tables.get("iptables-nft")?.toSorted(), v4.toSorted());
});

test("auto follows the backend that holds the namespace's rules; a forced mode is used as it is", () => {
  const fake = new FakeIptables();
  fake.tables.set("iptables-legacy", ["-A INPUT -j ACCEPT"]);
  const auto = io(fake);
  assert.equal(runInit(FLAGS, auto.io), 0);
  assert.match(auto.out[0] ?? "", /backend legacy \(auto: legacy holds/);
  assert.equal(fake.tables.get("iptables-nft"), undefined);

  const forced = io(new FakeIptables());
  assert.equal(runInit({ ...FLAGS, iptablesMode: "legacy" }, forced.io), 0);
  assert.equal(forced.out[0], "trellis-init: iptables backend legacy (--iptables-mode=legacy)");
});

test("IPv6: skipped without IPv6 or with --ipv6=off; a failure is logged on a pod without a global IPv6 address", () => {
  const fake = new FakeIptables();
  const off = io(fake);
  assert.equal(runInit({ ...FLAGS, ipv6: "off" }, off.io), 0);
  assert.ok(off.out.includes("trellis-init: IPv6: not applied (--ipv6=off)"));
  assert.ok(!fake.calls.some((c) => c.includes("ip6tables-nft-restore")));

  const noV6 = io(new FakeIptables(), { ipv6: { enabled: false, globalAddress: false } });
  assert.equal(runInit(FLAGS, noV6.io), 0);
  assert.ok(noV6.out.some((l) => l.includes("IPv6: not applied: this network namespace has no IPv6")));

  const failing = new FakeIptables();
  failing.failRestore.set(
    "ip6tables-nft",
    "ip6tables-nft-restore: line 2 failed: No such file or directory\n",
  );
  const v4only = io(failing);
  assert.equal(runInit(FLAGS, v4only.io), 0, v4only.err.join("\n"));
  assert.ok(
    v4only.out.some((l) =>
      /IPv6: not applied, and this pod has no global IPv6 address to need it: TRELLIS_E_INIT_RESTORE_FAILED/.test(
        l,
      ),
    ),
  );
  assert.equal(failing.tables.get("iptables-nft")?.length, 11);

  const missing = io(new FakeIptables(), {
    tools: ["iptables-nft-save", "iptables-nft-restore"],
    ipv6: { enabled: true, globalAddress: false },
  });
  assert.equal(runInit(FLAGS, missing.io), 0);
  assert.ok(
    missing.out.some((l) => l.includes("IPv6: not applied: ip6tables-nft-save or -restore is not installed")),
  );
});

test("failures: one line on stderr with the code, the tool's stderr and the failing rule; exit 1", () => {
  const failing = new FakeIptables();
  failing.failRestore.set(
    "ip6tables-nft",
    "ip6tables-nft-restore: line 2 failed: No such file or directory\n",
  );
  const dual = io(failing, { ipv6: { enabled: true, globalAddress: true } });
  assert.equal(runInit(FLAGS, dual.io), 1);
  assert.equal(dual.err.length, 1);
  assert.equal(
    dual.err[0],
    "trellis-init: TRELLIS_E_INIT_RESTORE_FAILED: the rules could not be applied: /sbin/ip6tables-nft-restore " +
      "--noflush --wait=10 exited 2: ip6tables-nft-restore: line 2 failed: No such file or directory " +
      "(line 2: :TRELLIS_PREROUTING - [0:0])",
  );

  const none = io(new FakeIptables(), { tools: [] });
  assert.equal(runInit(FLAGS, none.io), 1);
  assert.match(
    none.err[0] ?? "",
    /^trellis-init: TRELLIS_E_INIT_NO_IPTABLES: no usable iptables: neither backend can be used: nft iptables-nft-save or -restore is not installed; legacy iptables-legacy-save or -restore is not installed$/,
  );

  const forced = io(new FakeIptables(), { tools: ["iptables-nft-save", "iptables-nft-restore"] });
  assert.equal(runInit({ ...FLAGS, iptablesMode: "legacy" }, forced.io), 1);
  assert.match(
    forced.err[0] ?? "",
    /TRELLIS_E_INIT_TOOL_MISSING: .*--iptables-mode=legacy needs iptables-legacy-save/,
  );

  const v6forced = io(new FakeIptables(), { tools: ["iptables-nft-save", "iptables-nft-restore"] });
  assert.equal(runInit({ ...FLAGS, ipv6: "on" }, v6forced.io), 1);
  assert.match(
    v6forced.err[0] ?? "",
    /TRELLIS_E_INIT_TOOL_MISSING: .*ip6tables-nft-save or -restore is not installed \(--ipv6=on\)/,
  );

  const lying = new FakeIptables();
  lying.ignoreRestore = true;
  const unverified = io(lying);
  assert.equal(runInit(FLAGS, unverified.io), 1);
  assert.match(
    unverified.err[0] ?? "",
    /TRELLIS_E_INIT_VERIFY_FAILED: .*shows 0 rules in our chains and 0\+0 jumps into them, where 11 rules/,
  );
});

// ── The executable ───────────────────────────────────────────────────────────────────────────────────

const run = promisify(execFile);
const MAIN = join(repoRoot, "control/main.ts");

async function controller(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ["--import", "tsx", MAIN, "init", ...args], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("--dry-run prints the rules of both families in iptables-restore format, and nothing else", async () => {
  const r = await controller([
    "--proxy-uid=2102",
    "--inbound-ports-to-ignore=4190,4191,8000-8010,9090",
    "--outbound-ports-to-ignore=5432",
    "--dry-run",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assertGolden("init/dry-run.txt", r.stdout, "test/control/init/command.test.ts");
});

/** Parses `init` flags in process, as the executable would, without running anything. */
async function parseFlags(args: string[]): Promise<InitFlags> {
  let parsed: InitFlags | undefined;
  const cmd = initCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .action((flags: InitFlags) => {
      parsed = { ...flags, dryRun: Boolean(flags.dryRun) };
    });
  await cmd.parseAsync(args, { from: "user" });
  assert.ok(parsed);
  return parsed;
}

test("bad flags: a usage error naming the flag and the value, in one line", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["--inbound-ports-to-ignore=80,x"],
      /^error: option '--inbound-ports-to-ignore <ports>' argument '80,x' is invalid\. "x" is not a port \(1-65535\) or a range such as 8000-8010$/,
    ],
    [["--outbound-ports-to-ignore=9000-8000"], /--outbound-ports-to-ignore .*"9000-8000" is not a port/],
    [["--outbound-ports-to-ignore=80,"], /--outbound-ports-to-ignore .*an empty entry is not a port/],
    [["--incoming-proxy-port=70000"], /--incoming-proxy-port .*"70000" is not a port \(1-65535\)$/],
    [["--proxy-uid=0"], /--proxy-uid .*0 is root: every process running as root would escape interception/],
    [["--proxy-uid=x"], /--proxy-uid .*"x" is not a user id/],
    [["--iptables-mode=iptables"], /--iptables-mode .*Allowed choices are auto, nft, legacy/],
    [["--ipv6=yes"], /--ipv6 .*Allowed choices are auto, on, off/],
    [[], /^error: required option '--proxy-uid <uid>' not specified$/],
  ];
  for (const [args, message] of cases) {
    const withUid =
      args.some((a) => a.startsWith("--proxy-uid")) || args.length === 0
        ? args
        : ["--proxy-uid=2102", ...args];
    await assert.rejects(parseFlags(withUid), (err: Error) => {
      assert.ok(err instanceof CommanderError, String(err));
      assert.doesNotMatch(err.message.trim(), /\n/);
      assert.match(err.message.trim(), message);
      return true;
    });
  }
  assert.equal(
    crossCheck({ ...FLAGS, outgoingProxyPort: 4143 }),
    "--incoming-proxy-port and --outgoing-proxy-port are both 4143: the proxy's inbound and outbound listeners are two ports",
  );
  assert.equal(crossCheck(FLAGS), undefined);
});

test("the executable: a bad flag exits 2 with the line on stderr and nothing on stdout", async () => {
  const r = await controller(["--proxy-uid=2102", "--inbound-ports-to-ignore=80,x", "--dry-run"]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr.split("\n")[0] ?? "",
    /^error: option '--inbound-ports-to-ignore <ports>' argument '80,x' is invalid\./,
  );
});

test("the arguments the injector renders for trellis-init are accepted as they are", async () => {
  const config = defaultInjectorConfig();
  const full = initContainer(config, ["4190", "4191", "9000-9010"], ["5432", "6000-6001"]);
  assert.deepEqual(full.command, ["trellis-controller", "init"]);
  const flags = await parseFlags(full.args as string[]);
  assert.deepEqual(
    { ...flags },
    {
      incomingProxyPort: 4143,
      outgoingProxyPort: 4140,
      proxyUid: config.proxyUid,
      inboundPortsToIgnore: [
        { low: 4190, high: 4190 },
        { low: 4191, high: 4191 },
        { low: 9000, high: 9010 },
      ],
      outboundPortsToIgnore: [
        { low: 5432, high: 5432 },
        { low: 6000, high: 6001 },
      ],
      iptablesMode: "auto",
      ipv6: "auto",
      dryRun: false,
    },
  );
  const printed = io(new FakeIptables());
  assert.equal(runInit({ ...flags, dryRun: true }, printed.io), 0);
  const text = printed.out.join("\n");
  assert.match(text, /--dports 9000:9010 -m comment --comment "trellis-init\/inbound-skip-ports"/);
  assert.match(text, /--dports 5432,6000:6001 -m comment --comment "trellis-init\/outbound-skip-ports"/);
  // No outbound ports: the flag is left out; no inbound ports: an empty value, which is no ports.
  const bare = initContainer(config, [], []);
  assert.ok((bare.args as string[]).includes("--inbound-ports-to-ignore="));
  const bareFlags = await parseFlags(bare.args as string[]);
  assert.deepEqual([bareFlags.inboundPortsToIgnore, bareFlags.outboundPortsToIgnore], [[], []]);
});
