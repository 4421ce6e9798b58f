// trellis-init's pure parts: the port-list grammar (and that the injector's annotation check agrees with
// it), the rules built from the flags, the multiport split, and the restore input that leaves exactly one
// copy of the rules whatever the nat table held before.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPortRange, parsePortList, parsePortOrRange } from "../../../control/common/ports.js";
import {
  CHAINS,
  chainRules,
  desiredRules,
  jumpRules,
  multiportGroups,
  ownRules,
  type RuleConfig,
  restoreInput,
  summary,
} from "../../../control/init/index.js";
import { isPortOrRange } from "../../../control/injector/index.js";

const r = (low: number, high = low) => ({ low, high });

const CONFIG: RuleConfig = {
  incomingProxyPort: 4143,
  outgoingProxyPort: 4140,
  proxyUid: 2102,
  proxyPorts: [4143, 4191, 4190],
  inboundPortsToIgnore: [r(4190), r(4191), r(9090), r(8000, 8010)],
  outboundPortsToIgnore: [r(5432)],
};

test("a port list: ports and ranges, trimmed, exact duplicates dropped, the empty string is no ports", () => {
  assert.deepEqual(parsePortList(""), { ranges: [] });
  assert.deepEqual(parsePortList(" 80, 8000-8010 ,80,65535,1-1"), {
    ranges: [r(80), r(8000, 8010), r(65535), r(1)],
  });
  for (const [input, entry] of [
    ["80,x", '"x"'],
    ["0", '"0"'],
    ["65536", '"65536"'],
    ["80,,90", "an empty entry"],
    ["80,", "an empty entry"],
    ["9000-8000", '"9000-8000"'],
    ["-1", '"-1"'],
    ["+80", '"+80"'],
    ["8000:8010", '"8000:8010"'],
    ["80 90", '"80 90"'],
  ])
    assert.deepEqual(
      parsePortList(input as string),
      { error: `${entry} is not a port (1-65535) or a range such as 8000-8010` },
      input,
    );
  assert.equal(formatPortRange(r(80)), "80");
  assert.equal(formatPortRange(r(8000, 8010)), "8000-8010");
});

test("the injector's annotation check accepts exactly the entries trellis-init's flags accept", () => {
  const entries = [
    "80",
    "1",
    "65535",
    "0",
    "65536",
    "8000-8010",
    "10-10",
    "9-8",
    "x",
    "",
    " 80",
    "08080",
    "1-65535",
  ];
  for (const e of entries)
    assert.equal(isPortOrRange(e), parsePortOrRange(e) !== undefined, JSON.stringify(e));
});

test("inbound: the proxy's own ports first, then the ignored ones it does not already cover, then the redirect", () => {
  const rules = chainRules(CONFIG, "ipv4");
  const pre = rules.filter((l) => l.startsWith(`-A ${CHAINS.PREROUTING} `));
  assert.deepEqual(pre, [
    '-A TRELLIS_PREROUTING -p tcp -m multiport --dports 4143,4191,4190 -m comment --comment "trellis-init/inbound-skip-proxy-ports" -j RETURN',
    '-A TRELLIS_PREROUTING -p tcp -m multiport --dports 9090,8000:8010 -m comment --comment "trellis-init/inbound-skip-ports" -j RETURN',
    '-A TRELLIS_PREROUTING -p tcp -m comment --comment "trellis-init/inbound-redirect" -j TRELLIS_INBOUND_REDIRECT',
  ]);
  assert.deepEqual(
    rules.filter((l) => l.startsWith(`-A ${CHAINS.INBOUND_REDIRECT} `)),
    [
      '-A TRELLIS_INBOUND_REDIRECT -p tcp -m comment --comment "trellis-init/inbound-to-proxy" -j REDIRECT --to-ports 4143',
    ],
  );
  // Nothing ignored but the proxy's own ports: no second skip rule.
  const bare = chainRules({ ...CONFIG, inboundPortsToIgnore: [], outboundPortsToIgnore: [] }, "ipv4");
  assert.equal(bare.filter((l) => l.includes("skip-ports")).length, 0);
});

test("outbound: the proxy's UID, loopback and localhost, the ignored ports, then the redirect; per family", () => {
  const out = (family: "ipv4" | "ipv6") =>
    chainRules(CONFIG, family).filter(
      (l) => l.startsWith(`-A ${CHAINS.OUTPUT} `) || l.startsWith(`-A ${CHAINS.OUTBOUND_REDIRECT} `),
    );
  assert.deepEqual(out("ipv4"), [
    '-A TRELLIS_OUTPUT -m owner --uid-owner 2102 -m comment --comment "trellis-init/outbound-skip-proxy-uid" -j RETURN',
    '-A TRELLIS_OUTPUT -o lo -m comment --comment "trellis-init/outbound-skip-loopback" -j RETURN',
    '-A TRELLIS_OUTPUT -d 127.0.0.0/8 -m comment --comment "trellis-init/outbound-skip-localhost" -j RETURN',
    '-A TRELLIS_OUTPUT -p tcp -m multiport --dports 5432 -m comment --comment "trellis-init/outbound-skip-ports" -j RETURN',
    '-A TRELLIS_OUTPUT -p tcp -m comment --comment "trellis-init/outbound-redirect" -j TRELLIS_OUTBOUND_REDIRECT',
    '-A TRELLIS_OUTBOUND_REDIRECT -p tcp -m comment --comment "trellis-init/outbound-to-proxy" -j REDIRECT --to-ports 4140',
  ]);
  assert.ok(
    out("ipv6").includes(
      '-A TRELLIS_OUTPUT -d ::1/128 -m comment --comment "trellis-init/outbound-skip-localhost" -j RETURN',
    ),
  );
  assert.ok(!out("ipv6").some((l) => l.includes("127.0.0.0")));
  for (const line of desiredRules(CONFIG, "ipv6"))
    assert.match(line, / -m comment --comment "trellis-init\/[a-z-]+" /);
});

test("multiport takes at most 15 ports per rule, a range counting as two", () => {
  const sixteen = Array.from({ length: 16 }, (_, i) => r(1000 + i));
  assert.deepEqual(
    multiportGroups(sixteen).map((g) => g.split(",").length),
    [15, 1],
  );
  const ranges = [...Array.from({ length: 7 }, (_, i) => r(2000 + i * 10, 2005 + i * 10)), r(1), r(2)];
  // 7 ranges cost 14: the first single fits (15), the second starts a new rule.
  assert.deepEqual(multiportGroups(ranges), [
    "2000:2005,2010:2015,2020:2025,2030:2035,2040:2045,2050:2055,2060:2065,1",
    "2",
  ]);
  assert.deepEqual(multiportGroups([]), []);
  const many = chainRules({ ...CONFIG, outboundPortsToIgnore: sixteen }, "ipv4");
  assert.equal(many.filter((l) => l.includes("outbound-skip-ports")).length, 2);
});

test("ownRules finds our chains' rules and the jumps into them, and nothing of anyone else's", () => {
  const save = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    "-A PREROUTING -j KUBE-SERVICES",
    '-A PREROUTING -m comment --comment "trellis-init/install-prerouting" -j TRELLIS_PREROUTING',
    "-A OUTPUT -j TRELLIS_OUTPUT",
    "-A OUTPUT -j TRELLIS_OUTPUT",
    "-A MESH -j TRELLIS_OUTPUT",
    "-A TRELLIS_OUTPUT -o lo -j RETURN",
    "COMMIT",
  ].join("\n");
  const own = ownRules(save);
  assert.deepEqual(own.chains, ["-A TRELLIS_OUTPUT -o lo -j RETURN"]);
  assert.deepEqual(own.jumps.get("PREROUTING"), [
    '-A PREROUTING -m comment --comment "trellis-init/install-prerouting" -j TRELLIS_PREROUTING',
  ]);
  assert.deepEqual(own.jumps.get("OUTPUT"), ["-A OUTPUT -j TRELLIS_OUTPUT", "-A OUTPUT -j TRELLIS_OUTPUT"]);
  assert.equal(own.jumps.has("MESH"), false);
});

test("the restore input: our chains declared (flushed), their rules, and the jumps reconciled to one each", () => {
  const [preJump, outJump] = jumpRules() as [string, string];
  const fresh = restoreInput(CONFIG, "ipv4").split("\n");
  assert.deepEqual(fresh.slice(0, 5), [
    "*nat",
    ":TRELLIS_PREROUTING - [0:0]",
    ":TRELLIS_INBOUND_REDIRECT - [0:0]",
    ":TRELLIS_OUTPUT - [0:0]",
    ":TRELLIS_OUTBOUND_REDIRECT - [0:0]",
  ]);
  assert.deepEqual(fresh.slice(-4), [preJump, outJump, "COMMIT", ""]);

  // Already in place: the jumps are kept as they are, only the chains are rewritten.
  const applied = `*nat\n${desiredRules(CONFIG, "ipv4").join("\n")}\nCOMMIT\n`;
  const again = restoreInput(CONFIG, "ipv4", applied).split("\n");
  assert.equal(again.filter((l) => l.startsWith("-A PREROUTING") || l.startsWith("-A OUTPUT")).length, 0);
  assert.equal(again.filter((l) => l.startsWith("-D ")).length, 0);

  // Duplicated or stale jumps (another comment, none): each deleted, the one we want appended.
  const messy = `*nat\n${preJump}\n${preJump}\n-A OUTPUT -j TRELLIS_OUTPUT\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n`;
  const fixed = restoreInput(CONFIG, "ipv4", messy).split("\n");
  assert.deepEqual(
    fixed.filter((l) => /^-[AD] (PREROUTING|OUTPUT) /.test(l)),
    [
      preJump.replace("-A ", "-D "),
      preJump.replace("-A ", "-D "),
      preJump,
      "-D OUTPUT -j TRELLIS_OUTPUT",
      outJump,
    ],
  );
});

test("the summary names what is intercepted and what is left alone", () => {
  assert.equal(
    summary(CONFIG),
    "inbound TCP to 4143 except ports 4143,4191,4190,9090,8000-8010; outbound TCP to 4140 except UID 2102, loopback and ports 5432",
  );
  assert.equal(
    summary({ ...CONFIG, inboundPortsToIgnore: [], outboundPortsToIgnore: [] }),
    "inbound TCP to 4143 except ports 4143,4191,4190; outbound TCP to 4140 except UID 2102, loopback",
  );
});
