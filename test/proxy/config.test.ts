// loadConfig: every TRELLIS_PROXY_* variable parsed from a plain object, every bad one reported at
// once in one ConfigError that names it, unknown fields of the destination table named.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, DEFAULTS, ENV, loadConfig } from "../../proxy/config.js";

const ANCHOR = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** The smallest valid environment. */
const valid = (): Record<string, string> => ({
  [ENV.IDENTITY_NAME]: "spiffe://cluster.local/ns/shop/sa/web",
  [ENV.IDENTITY_TRUST_ANCHORS]: ANCHOR,
  [ENV.IDENTITY_TOKEN_FILE]: "/var/run/secrets/tokens/trellis-identity",
  [ENV.IDENTITY_SVC_ADDR]: "identity.trellis.svc.cluster.local:8080",
  [ENV.IDENTITY_SVC_NAME]: "spiffe://cluster.local/ns/trellis/sa/identity",
});

/** The problems loadConfig reports for `env`; fails if it accepts it. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    assert.equal(err.code, "TRELLIS_E_PROXY_CONFIG");
    for (const p of err.problems) assert.ok(err.message.includes(p), `the message lists "${p}"`);
    return err.problems;
  }
  assert.fail("loadConfig accepted a bad configuration");
}

/** Asserts exactly one problem mentions each of `names`, and there are no others. */
function assertNamesEach(problems: string[], names: string[]): void {
  for (const name of names) {
    assert.equal(
      problems.filter((p) => p.includes(name)).length,
      1,
      `one problem names ${name}:\n  ${problems.join("\n  ")}`,
    );
  }
  assert.equal(problems.length, names.length, `no other problems:\n  ${problems.join("\n  ")}`);
}

test("a valid environment: defaults, units and the destination table", () => {
  const config = loadConfig({
    ...valid(),
    [ENV.INBOUND_PORTS]: "8080, 9090",
    [ENV.ADMIN_LISTEN_ADDR]: "[::1]:4191",
    [ENV.DETECT_TIMEOUT_MS]: "2500",
    [ENV.DESTINATIONS]: JSON.stringify([
      {
        authority: "Web.Shop.svc.cluster.local",
        labels: { service: "web" },
        endpoints: [{ address: "10.0.0.7:8080", identity: "spiffe://cluster.local/ns/shop/sa/web" }],
      },
    ]),
  });
  assert.deepEqual(config.inboundListen, { host: "0.0.0.0", port: 4143 });
  assert.deepEqual(config.outboundListen, { host: "127.0.0.1", port: 4140 });
  assert.deepEqual(config.adminListen, { host: "::1", port: 4191 });
  assert.deepEqual([...config.inboundPorts], [8080, 9090]);
  assert.equal(config.detectTimeoutMs, 2500);
  assert.equal(config.connectTimeoutMs, DEFAULTS.CONNECT_TIMEOUT_MS);
  assert.equal(config.maxHeaderBytes, DEFAULTS.MAX_HEADER_BYTES);
  assert.deepEqual(config.http2, {
    maxConcurrentStreams: DEFAULTS.HTTP2_MAX_CONCURRENT_STREAMS,
    maxResets: DEFAULTS.HTTP2_MAX_RESETS,
    stallTimeoutMs: DEFAULTS.HTTP2_STALL_TIMEOUT_MS,
  });
  assert.deepEqual(config.failureAccrual, { maxFailures: 7, backoffBaseMs: 1_000, backoffMaxMs: 60_000 });
  const [dest] = config.destinations;
  assert.equal(dest?.authority, "web.shop.svc.cluster.local:80");
  assert.equal(dest?.protocol, "http");
  assert.deepEqual(dest?.endpoints[0], {
    address: "10.0.0.7:8080",
    identity: "spiffe://cluster.local/ns/shop/sa/web",
    inboundPort: DEFAULTS.PEER_INBOUND_PORT,
    labels: {},
  });
});

test("the HTTP/2 listeners' limits are read from their variables", () => {
  const config = loadConfig({
    ...valid(),
    [ENV.HTTP2_MAX_CONCURRENT_STREAMS]: "20",
    [ENV.HTTP2_MAX_RESETS]: "100",
    [ENV.HTTP2_STALL_TIMEOUT_MS]: "1000",
  });
  assert.deepEqual(config.http2, { maxConcurrentStreams: 20, maxResets: 100, stallTimeoutMs: 1000 });
});

test("the lookup can be a function, as the executable passes process.env", () => {
  const env = valid();
  assert.equal(loadConfig((name) => env[name]).identity.name, env[ENV.IDENTITY_NAME]);
});

test("every missing required variable is reported at once", () => {
  assertNamesEach(problemsOf({}), [
    ENV.IDENTITY_NAME,
    ENV.IDENTITY_TRUST_ANCHORS,
    ENV.IDENTITY_TOKEN_FILE,
    ENV.IDENTITY_SVC_ADDR,
    ENV.IDENTITY_SVC_NAME,
  ]);
  // Blank counts as missing.
  assertNamesEach(problemsOf({ ...valid(), [ENV.IDENTITY_TOKEN_FILE]: "   " }), [ENV.IDENTITY_TOKEN_FILE]);
});

test("several bad variables: one ConfigError naming each of them", () => {
  const bad = {
    [ENV.IDENTITY_NAME]: "web.shop",
    [ENV.IDENTITY_TRUST_ANCHORS]: "not a certificate",
    [ENV.IDENTITY_SVC_ADDR]: "identity.trellis",
    [ENV.IDENTITY_SVC_NAME]: "identity",
    [ENV.INBOUND_LISTEN_ADDR]: "0.0.0.0",
    [ENV.OUTBOUND_LISTEN_ADDR]: "127.0.0.1:99999",
    [ENV.ADMIN_LISTEN_ADDR]: "localhost:admin",
    [ENV.INBOUND_PORTS]: "8080,http",
    [ENV.IDENTITY_MIN_REFRESH_MS]: "-1",
    [ENV.IDENTITY_RETRY_BASE_MS]: "0",
    [ENV.DETECT_TIMEOUT_MS]: "1.5",
    [ENV.CONNECT_TIMEOUT_MS]: "three seconds",
    [ENV.MAX_HEADER_BYTES]: "100",
    [ENV.HTTP2_MAX_CONCURRENT_STREAMS]: "0",
    [ENV.HTTP2_MAX_RESETS]: "many",
    [ENV.HTTP2_STALL_TIMEOUT_MS]: "-5",
    [ENV.SHUTDOWN_GRACE_MS]: "soon",
    [ENV.FAILURE_ACCRUAL_CONSECUTIVE_FAILURES]: "0",
    [ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS]: "a second",
    [ENV.DESTINATIONS]: "[{",
  };
  const problems = problemsOf({ ...valid(), ...bad });
  assertNamesEach(problems, Object.keys(bad));
  // Each problem quotes the value it refused, so the operator sees what was read.
  for (const [name, value] of Object.entries(bad)) {
    if ([ENV.IDENTITY_TRUST_ANCHORS, ENV.DESTINATIONS, ENV.INBOUND_PORTS].includes(name as never)) continue;
    const problem = problems.find((p) => p.includes(name));
    assert.ok(problem?.includes(value), `${problem} quotes "${value}"`);
  }
});

test("failure accrual: set together, and a longest penalty below the shortest is refused", () => {
  const config = loadConfig({
    ...valid(),
    [ENV.FAILURE_ACCRUAL_CONSECUTIVE_FAILURES]: "3",
    [ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS]: "250",
    [ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS]: "250",
  });
  assert.deepEqual(config.failureAccrual, { maxFailures: 3, backoffBaseMs: 250, backoffMaxMs: 250 });
  const problems = problemsOf({
    ...valid(),
    [ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS]: "5000",
    [ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS]: "4000",
  });
  assert.deepEqual(problems, [
    `${ENV.FAILURE_ACCRUAL_MAX_PENALTY_MS}=4000 is below ${ENV.FAILURE_ACCRUAL_MIN_PENALTY_MS}=5000`,
  ]);
});

test("unknown fields in the destination table are named, with every other problem in it", () => {
  const problems = problemsOf({
    ...valid(),
    [ENV.DESTINATIONS]: JSON.stringify([
      {
        authority: "web.shop.svc.cluster.local:8080",
        endpoint: [],
        endpoints: [
          { address: "10.0.0.7:8080", identiy: "spiffe://cluster.local/ns/shop/sa/web", weight: 3 },
          { address: "10.0.0.8" },
        ],
      },
      { authority: "db.shop.svc.cluster.local:5432", protocol: "tcp", endpoints: [] },
      {
        authority: "cache.shop.svc.cluster.local:6379",
        protocol: "opaque",
        labels: { Service: "cache" },
        endpoints: [{ address: "10.0.0.9:6379", inboundPort: 0 }],
      },
    ]),
    [ENV.DETECT_TIMEOUT_MS]: "never",
  });
  const expected = [
    'TRELLIS_PROXY_DESTINATIONS[0]: unknown field "endpoint"',
    'TRELLIS_PROXY_DESTINATIONS[0].endpoints[0]: unknown field "identiy"',
    'TRELLIS_PROXY_DESTINATIONS[0].endpoints[0]: unknown field "weight"',
    "TRELLIS_PROXY_DESTINATIONS[0].endpoints[1].address",
    "TRELLIS_PROXY_DESTINATIONS[1].protocol",
    'TRELLIS_PROXY_DESTINATIONS[2]: an opaque destination needs "bind"',
    "TRELLIS_PROXY_DESTINATIONS[2].labels.Service",
    "TRELLIS_PROXY_DESTINATIONS[2].endpoints[0].inboundPort",
    ENV.DETECT_TIMEOUT_MS,
  ];
  assertNamesEach(problems, expected);
});

test("the destination table must be a JSON list of objects", () => {
  assertNamesEach(problemsOf({ ...valid(), [ENV.DESTINATIONS]: '{"authority":"web"}' }), [ENV.DESTINATIONS]);
  assertNamesEach(problemsOf({ ...valid(), [ENV.DESTINATIONS]: '["web"]' }), [
    "TRELLIS_PROXY_DESTINATIONS[0] is not an object",
  ]);
  assertNamesEach(problemsOf({ ...valid(), [ENV.DESTINATIONS]: '[{"endpoints":[]}]' }), [
    "TRELLIS_PROXY_DESTINATIONS[0].authority",
  ]);
});

test("opaque ports: Linkerd's default list unless set; a set list (ranges too, or empty) replaces it; bad items named", () => {
  const defaults = loadConfig(valid()).opaquePorts;
  assert.equal(defaults.text, DEFAULTS.OPAQUE_PORTS);
  for (const port of [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]) assert.ok(defaults.has(port), `${port}`);
  assert.ok(!defaults.has(80));

  const set = loadConfig({ ...valid(), [ENV.OPAQUE_PORTS]: " 7000, 8000-8100 " }).opaquePorts;
  assert.deepEqual([set.has(7000), set.has(8050), set.has(8101), set.has(3306)], [true, true, false, false]);
  assert.equal(loadConfig({ ...valid(), [ENV.OPAQUE_PORTS]: "" }).opaquePorts.has(3306), false);

  const problems = problemsOf({ ...valid(), [ENV.OPAQUE_PORTS]: "3306,0,mysql,9000-8000,70000" });
  assertNamesEach(problems, [ENV.OPAQUE_PORTS]);
  for (const bad of ['"0"', '"mysql"', '"9000-8000"', '"70000"'])
    assert.match(problems[0] ?? "", new RegExp(bad));
});

test("resource bounds: per-listener connection limits, handshake timeout, mux streams, discovery cache", () => {
  const defaults = loadConfig({ ...valid(), [ENV.DESTINATION_SVC_ADDR]: "127.0.0.1:8086" });
  assert.deepEqual(defaults.maxConnections, {
    inbound: DEFAULTS.INBOUND_MAX_CONNECTIONS,
    outbound: DEFAULTS.OUTBOUND_MAX_CONNECTIONS,
    admin: DEFAULTS.ADMIN_MAX_CONNECTIONS,
  });
  assert.equal(defaults.tlsHandshakeTimeoutMs, DEFAULTS.TLS_HANDSHAKE_TIMEOUT_MS);
  assert.equal(defaults.muxMaxStreams, DEFAULTS.MUX_MAX_STREAMS);
  assert.equal(defaults.destinationService?.maxCached, DEFAULTS.DESTINATION_CACHE_MAX);
  const set = loadConfig({
    ...valid(),
    [ENV.DESTINATION_SVC_ADDR]: "127.0.0.1:8086",
    [ENV.INBOUND_MAX_CONNECTIONS]: "300",
    [ENV.OUTBOUND_MAX_CONNECTIONS]: "200",
    [ENV.ADMIN_MAX_CONNECTIONS]: "10",
    [ENV.TLS_HANDSHAKE_TIMEOUT_MS]: "500",
    [ENV.MUX_MAX_STREAMS]: "64",
    [ENV.DESTINATION_CACHE_MAX]: "100",
    [ENV.METRICS_MAX_AUTHORITIES]: "50",
    [ENV.METRICS_RETAIN_IDLE_MS]: "60000",
  });
  assert.equal(set.metricsMaxAuthorities, 50);
  assert.equal(set.metricsRetainIdleMs, 60_000);
  assert.equal(defaults.metricsRetainIdleMs, DEFAULTS.METRICS_RETAIN_IDLE_MS);
  assert.equal(defaults.metricsMaxAuthorities, DEFAULTS.METRICS_MAX_AUTHORITIES);
  assert.deepEqual(set.maxConnections, { inbound: 300, outbound: 200, admin: 10 });
  assert.equal(set.tlsHandshakeTimeoutMs, 500);
  assert.equal(set.muxMaxStreams, 64);
  assert.equal(set.destinationService?.maxCached, 100);
  const problems = problemsOf({
    ...valid(),
    [ENV.DESTINATION_SVC_ADDR]: "127.0.0.1:8086",
    [ENV.INBOUND_MAX_CONNECTIONS]: "0",
    [ENV.OUTBOUND_MAX_CONNECTIONS]: "many",
    [ENV.ADMIN_MAX_CONNECTIONS]: "-1",
    [ENV.TLS_HANDSHAKE_TIMEOUT_MS]: "0",
    [ENV.MUX_MAX_STREAMS]: "5000",
    [ENV.DESTINATION_CACHE_MAX]: "0",
    // Under a second: a sweep would drop series between two scrapes.
    [ENV.METRICS_RETAIN_IDLE_MS]: "10",
  });
  assertNamesEach(problems, [
    ENV.INBOUND_MAX_CONNECTIONS,
    ENV.OUTBOUND_MAX_CONNECTIONS,
    ENV.ADMIN_MAX_CONNECTIONS,
    ENV.TLS_HANDSHAKE_TIMEOUT_MS,
    ENV.MUX_MAX_STREAMS,
    ENV.DESTINATION_CACHE_MAX,
    ENV.METRICS_RETAIN_IDLE_MS,
  ]);
});
