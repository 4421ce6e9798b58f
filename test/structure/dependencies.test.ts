// The structure check bites: on a small tree laid out as Trellis is, with one allowed import of every kind,
// the check passes; adding one violating import (or one long file) makes it print that violation with its
// rule's name and exit 1. The rules are the repository's own .dependency-cruiser.cjs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkStructure, formatViolation } from "./check.js";

const check = fileURLToPath(new URL("./check.ts", import.meta.url));

/**
 * Each fixture file with the files it imports; `type:` marks a type-only import. Every edge here is one
 * the rules allow, including the edges most likely to be flagged by mistake: a type-only import of a
 * lower layer, two pieces of the same proxy layer, k8s using control/common, cli using everything.
 */
const TREE: Record<string, string[]> = {
  "control/api/gen/contract.ts": [],
  "lib/duration.ts": ["node:util"],
  "lib/log.ts": ["node:net", "control/api/gen/contract.ts", "lib/duration.ts"],
  "lib/identity/client.ts": ["lib/log.ts", "type:control/api/gen/contract.ts"],
  "control/common/flags.ts": ["lib/log.ts", "control/api/gen/contract.ts"],
  "control/k8s/informer.ts": ["lib/log.ts"],
  "control/k8s/client.ts": ["lib/log.ts", "type:control/common/flags.ts", "control/k8s/informer.ts"],
  "control/local/tokens.ts": ["control/common/flags.ts"],
  "control/identity/verifier.ts": [
    "control/common/flags.ts",
    "control/k8s/client.ts",
    "control/local/tokens.ts",
    "lib/identity/client.ts",
  ],
  "control/identity/errors.ts": [],
  "control/identity/command.ts": ["control/identity/verifier.ts", "control/identity/errors.ts"],
  "control/destination/server.ts": ["control/k8s/client.ts", "lib/identity/client.ts"],
  "control/main.ts": ["control/identity/command.ts", "control/destination/server.ts"],
  "proxy/errors.ts": ["lib/log.ts"],
  "proxy/config.ts": ["proxy/errors.ts"],
  "proxy/transport/net.ts": ["type:proxy/config.ts"],
  "proxy/tls/index.ts": ["proxy/transport/net.ts", "lib/identity/client.ts"],
  "proxy/metrics/index.ts": [],
  "proxy/balance/index.ts": ["proxy/metrics/index.ts"],
  "proxy/http/headers.ts": [],
  "proxy/http/server.ts": ["proxy/tls/index.ts", "proxy/transport/net.ts", "proxy/http/headers.ts"],
  "proxy/discovery/index.ts": ["proxy/balance/index.ts", "control/api/gen/contract.ts"],
  "proxy/outbound/route.ts": ["type:proxy/http/headers.ts"],
  "proxy/outbound/index.ts": ["proxy/discovery/index.ts", "proxy/http/server.ts", "proxy/outbound/route.ts"],
  "proxy/inbound/index.ts": ["proxy/http/server.ts", "proxy/tls/index.ts"],
  "proxy/admin/index.ts": ["proxy/metrics/index.ts", "proxy/http/server.ts"],
  "proxy/main.ts": ["proxy/outbound/index.ts", "proxy/inbound/index.ts", "proxy/admin/index.ts"],
  "viz/stat.ts": ["lib/log.ts", "control/api/gen/contract.ts"],
  "cli/main.ts": ["proxy/config.ts", "control/main.ts", "control/k8s/client.ts", "viz/stat.ts"],
  "test/support/pki.ts": ["lib/log.ts", "proxy/tls/index.ts"],
};

/** A module importing `deps` (paths from the root, or `node:` builtins), padded to `lines` lines. */
function moduleText(file: string, deps: string[], opening = "// A fixture module.", lines = 0): string {
  const out = opening.split("\n");
  for (const [i, dep] of deps.entries()) {
    const typeOnly = dep.startsWith("type:");
    const path = typeOnly ? dep.slice("type:".length) : dep;
    let spec = path;
    if (!path.startsWith("node:")) {
      spec = posix.relative(posix.dirname(file), path).replace(/\.ts$/, ".js");
      if (!spec.startsWith(".")) spec = `./${spec}`;
    }
    out.push(
      typeOnly ? `import type { Shape as T${i} } from "${spec}";` : `import * as m${i} from "${spec}";`,
    );
  }
  out.push("export type Shape = { n: number };");
  while (out.length < lines - 1) out.push(`export const v${out.length} = ${out.length};`);
  out.push("export const value = 1;");
  return `${out.join("\n")}\n`;
}

/** A temporary copy of the fixture tree with `changes` (file → its whole text) applied; removed by the caller. */
function writeTree(changes: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "trellis-structure-"));
  const files: Record<string, string> = {};
  for (const [file, deps] of Object.entries(TREE)) files[file] = moduleText(file, deps);
  Object.assign(files, changes);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(root, dirname(file)), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  return root;
}

/** The check's violations on the fixture tree with `changes`, as "file: rule: detail" lines. */
async function violations(changes: Record<string, string> = {}): Promise<string[]> {
  const root = writeTree(changes);
  try {
    return (await checkStructure(root)).map((v) => {
      assert.notEqual(v.fix, "", `every violation says what to do: ${formatViolation(v)}`);
      return `${v.file}: ${v.rule}: ${v.detail}`;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The check run as `npm test` runs it, on the fixture tree with `changes`. */
function runCheck(changes: Record<string, string> = {}): { status: number | null; stdout: string } {
  const root = writeTree(changes);
  try {
    const r = spawnSync(process.execPath, ["--import", "tsx", check, root], { encoding: "utf8" });
    assert.equal(r.stderr, "", "the check writes nothing to stderr");
    return { status: r.status, stdout: r.stdout };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The fixture file `file` with `deps` imported besides its own. */
function withImports(file: string, ...deps: string[]): Record<string, string> {
  return { [file]: moduleText(file, [...(TREE[file] ?? []), ...deps]) };
}

const LONG_BUT_FINE = {
  "proxy/http/exactly-400.ts": moduleText("proxy/http/exactly-400.ts", [], undefined, 400),
  "proxy/http/table.ts": moduleText(
    "proxy/http/table.ts",
    ["proxy/transport/net.ts"],
    "/**\n * Status tables.\n *\n * Over 400 lines: one table per status class reads best in one place.\n */",
    450,
  ),
  "cli/big.ts": moduleText("cli/big.ts", [], "#!/usr/bin/env node\n// Over 400 lines: fixture.", 420),
  "control/api/gen/big.ts": moduleText("control/api/gen/big.ts", [], "// Generated.", 900),
};

test("a tree that keeps every rule passes, long files with a reason and generated code included", async () => {
  assert.deepEqual(await violations(LONG_BUT_FINE), []);
});

test("run as a command, the check exits 0 on a tree that keeps the rules and 1 on one violating import", () => {
  const clean = runCheck();
  assert.equal(clean.status, 0, clean.stdout);
  assert.match(clean.stdout, /^structure: the import and size rules hold in /);
  const bad = runCheck(withImports("proxy/tls/index.ts", "proxy/outbound/route.ts"));
  assert.equal(bad.status, 1, bad.stdout);
  const lines = bad.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, -1), [
    "proxy/tls/index.ts: proxy-generic-not-to-stages: imports proxy/outbound/route.ts; to fix: move the needed " +
      "piece into the generic folder it belongs to, or have the stage pass it in.",
    "proxy/tls/index.ts: proxy-layer-3-not-above: imports proxy/outbound/route.ts; to fix: move the shared " +
      "piece down to this layer or lower, or pass it in from above (a callback or an interface this layer owns).",
  ]);
  assert.match(lines.at(-1) ?? "", /^structure: 2 violation\(s\) in /);
});

/** Each case's changes to the fixture tree, and every violation the check must then report, in its order. */
const CASES: { name: string; changes: Record<string, string>; expect: string[] }[] = [
  {
    name: "a generic proxy piece importing outbound (tls, layer 3, importing layer 6)",
    changes: withImports("proxy/tls/index.ts", "proxy/outbound/route.ts"),
    expect: [
      "proxy/tls/index.ts: proxy-generic-not-to-stages: imports proxy/outbound/route.ts",
      "proxy/tls/index.ts: proxy-layer-3-not-above: imports proxy/outbound/route.ts",
    ],
  },
  {
    name: "a lower proxy layer importing a higher one, type-only (transport importing http)",
    changes: withImports("proxy/transport/net.ts", "type:proxy/http/headers.ts"),
    expect: ["proxy/transport/net.ts: proxy-layer-2-not-above: imports proxy/http/headers.ts"],
  },
  {
    name: "a lower proxy layer importing a higher one through a dynamic import and a re-export",
    changes: {
      "proxy/transport/net.ts": `${moduleText("proxy/transport/net.ts", TREE["proxy/transport/net.ts"] ?? [])}
export const later = () => import("../http/headers.js");
export { value as tlsValue } from "../tls/index.js";
`,
    },
    expect: [
      // tls imports net, so the re-export also closes a cycle.
      "proxy/tls/index.ts: no-circular: cycle proxy/tls/index.ts -> proxy/transport/net.ts -> proxy/tls/index.ts",
      "proxy/transport/net.ts: proxy-layer-2-not-above: imports proxy/http/headers.ts",
      "proxy/transport/net.ts: proxy-layer-2-not-above: imports proxy/tls/index.ts",
    ],
  },
  {
    name: "discovery importing outbound",
    changes: withImports("proxy/discovery/index.ts", "proxy/outbound/route.ts"),
    expect: [
      "proxy/discovery/index.ts: proxy-generic-not-to-stages: imports proxy/outbound/route.ts",
      "proxy/discovery/index.ts: proxy-layer-5-not-above: imports proxy/outbound/route.ts",
    ],
  },
  {
    name: "outbound importing inbound",
    changes: withImports("proxy/outbound/index.ts", "proxy/inbound/index.ts"),
    expect: ["proxy/outbound/index.ts: proxy-outbound-inbound-apart: imports proxy/inbound/index.ts"],
  },
  {
    name: "admin importing main",
    changes: withImports("proxy/admin/index.ts", "type:proxy/main.ts"),
    expect: [
      // main.ts imports admin, so importing the top layer back always closes a cycle.
      "proxy/admin/index.ts: no-circular: cycle proxy/admin/index.ts -> proxy/main.ts -> proxy/admin/index.ts",
      "proxy/admin/index.ts: proxy-layer-7-not-above: imports proxy/main.ts",
    ],
  },
  {
    name: "one controller importing another's folder (destination importing identity)",
    changes: {
      "control/destination/verify.ts": moduleText("control/destination/verify.ts", [
        "control/identity/verifier.ts",
      ]),
    },
    expect: [
      "control/destination/verify.ts: controller-not-to-other-controller: imports control/identity/verifier.ts",
    ],
  },
  {
    name: "a future controller importing another (injector importing destination)",
    changes: {
      "control/injector/webhook.ts": moduleText("control/injector/webhook.ts", [
        "type:control/destination/server.ts",
      ]),
    },
    expect: [
      "control/injector/webhook.ts: controller-not-to-other-controller: imports control/destination/server.ts",
    ],
  },
  {
    name: "control/local importing a controller",
    changes: withImports("control/local/tokens.ts", "control/identity/errors.ts"),
    expect: ["control/local/tokens.ts: control-shared-not-to-controller: imports control/identity/errors.ts"],
  },
  {
    name: "control/common importing control/k8s",
    changes: withImports("control/common/flags.ts", "control/k8s/informer.ts"),
    expect: ["control/common/flags.ts: control-common-not-to-k8s-local: imports control/k8s/informer.ts"],
  },
  {
    name: "the control plane importing the proxy",
    changes: withImports("control/destination/server.ts", "proxy/config.ts"),
    expect: ["control/destination/server.ts: control-not-to-proxy-cli-viz: imports proxy/config.ts"],
  },
  {
    name: "the proxy importing a controller",
    changes: withImports("proxy/discovery/index.ts", "control/destination/server.ts"),
    expect: ["proxy/discovery/index.ts: proxy-not-to-control-cli-viz: imports control/destination/server.ts"],
  },
  {
    name: "lib importing the proxy",
    changes: withImports("lib/log.ts", "proxy/metrics/index.ts"),
    expect: ["lib/log.ts: lib-only-builtins-npm-api: imports proxy/metrics/index.ts"],
  },
  {
    name: "control/api importing lib",
    changes: withImports("control/api/gen/contract.ts", "lib/duration.ts"),
    expect: ["control/api/gen/contract.ts: api-imports-nothing-ours: imports lib/duration.ts"],
  },
  {
    name: "viz importing a controller",
    changes: withImports("viz/stat.ts", "control/destination/server.ts"),
    expect: ["viz/stat.ts: viz-only-lib-and-api: imports control/destination/server.ts"],
  },
  {
    name: "source importing test/",
    changes: withImports("cli/main.ts", "test/support/pki.ts"),
    expect: ["cli/main.ts: not-to-test: imports test/support/pki.ts"],
  },
  {
    name: "a cycle a -> b -> a through a type-only import, within one layer",
    changes: {
      ...withImports("proxy/http/server.ts", "proxy/http/exchange.ts"),
      "proxy/http/exchange.ts": moduleText("proxy/http/exchange.ts", ["type:proxy/http/server.ts"]),
    },
    expect: [
      "proxy/http/exchange.ts: no-circular: cycle proxy/http/exchange.ts -> proxy/http/server.ts -> " +
        "proxy/http/exchange.ts",
    ],
  },
  {
    name: "a cycle through three files in three folders of one layer",
    changes: {
      ...withImports("proxy/metrics/index.ts", "proxy/tls/index.ts"),
      ...withImports("proxy/tls/index.ts", "type:proxy/balance/index.ts"),
    },
    expect: [
      "proxy/balance/index.ts: no-circular: cycle proxy/balance/index.ts -> proxy/metrics/index.ts -> " +
        "proxy/tls/index.ts -> proxy/balance/index.ts",
    ],
  },
  {
    name: "a file of 401 lines without a reason",
    changes: { "proxy/http/big.ts": moduleText("proxy/http/big.ts", [], undefined, 401) },
    expect: ["proxy/http/big.ts: max-400-lines: 401 lines"],
  },
  {
    name: "a long file whose marker gives no reason",
    changes: { "viz/big.ts": moduleText("viz/big.ts", [], "// Over 400 lines:", 500) },
    expect: ["viz/big.ts: max-400-lines: 500 lines"],
  },
  {
    name: "a long file whose reason is not in its opening comment",
    changes: {
      "lib/big.ts": moduleText(
        "lib/big.ts",
        [],
        "// Big.\nexport const a = 1;\n// Over 400 lines: late.",
        420,
      ),
    },
    expect: ["lib/big.ts: max-400-lines: 420 lines"],
  },
];

for (const c of CASES) {
  test(`the check reports ${c.name}`, async () => {
    assert.deepEqual(await violations(c.changes), c.expect);
  });
}
