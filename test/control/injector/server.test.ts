// The injector webhook over real HTTPS on 127.0.0.1, with real AdmissionReview bodies: a pod injected
// and its Event written; garbage of every kind refused with its status and a line naming the fault,
// the process still serving; Events never delaying an answer and dropped past their backlog; /ready,
// /live, /metrics; the serving certificate replaced on disk and served from the next connection, a
// broken replacement refused with the previous one kept. And `trellis-controller injector`'s own
// refusals: bad flags (exit 2) and an unusable certificate (exit 1, named).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseListenAddress } from "../../../control/common/flags.js";
import type { NamespaceLookup } from "../../../control/injector/index.js";
import { type RunningInjector, startInjector } from "../../../control/injector/server.js";
import type { InjectorSources } from "../../../control/injector/sources.js";
import { defaultInjectorConfig } from "../../support/install.js";
import { applyPatch } from "../../support/json-patch.js";
import { createCa, issueCert } from "../../support/pki.js";
import { bin, repoRoot } from "../../support/process.js";

// biome-ignore lint/suspicious/noExplicitAny: review bodies are walked freely
type O = Record<string, any>;

const CONFIG = defaultInjectorConfig();

/** Sources as plain values: namespaces by name, Events kept; `holdEvents` makes writes wait. */
class MemorySources implements InjectorSources {
  namespaces: Record<string, Record<string, string>> = {
    shop: { "trellis.dev/inject": "enabled" },
    plain: {},
  };
  events: O[] = [];
  isReady = true;
  private held: (() => void)[] = [];
  holdEvents = false;
  config() {
    return CONFIG;
  }
  async namespace(name: string): Promise<NamespaceLookup> {
    return { ok: true, annotations: this.namespaces[name] ?? {} };
  }
  async writeEvent(event: O): Promise<{ ok: true }> {
    if (this.holdEvents) await new Promise<void>((resolve) => this.held.push(resolve));
    this.events.push(event);
    return { ok: true };
  }
  release(): void {
    this.holdEvents = false;
    for (const r of this.held.splice(0)) r();
  }
  ready() {
    return this.isReady ? { ok: true, reason: "" } : { ok: false, reason: "namespaces not listed yet" };
  }
  async stop() {}
}

let dir: string;
let ca: Awaited<ReturnType<typeof createCa>>;
let sources: MemorySources;
let injector: RunningInjector;

async function writeServing(into: string, issuer: Awaited<ReturnType<typeof createCa>>): Promise<void> {
  const cert = await issueCert(issuer, { commonName: "127.0.0.1", ips: ["127.0.0.1"], usage: "server" });
  writeFileSync(join(into, "tls.crt"), cert.certPem);
  writeFileSync(join(into, "tls.key"), cert.keyPem);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "trellis-injector-"));
  ca = await createCa("injector-test-ca");
  await writeServing(dir, ca);
  sources = new MemorySources();
  injector = await startInjector({
    listen: parseListenAddress("127.0.0.1:0"),
    adminListen: parseListenAddress("127.0.0.1:0"),
    tls: { cert: join(dir, "tls.crt"), key: join(dir, "tls.key") },
    sources,
    controlPlaneNamespace: "trellis",
    instance: "injector-0",
    maxPendingEvents: 2,
    // Reloads are asked for explicitly below; no timer in between.
    reloadPollIntervalMs: 3_600_000,
  });
});
after(() => injector?.shutdown(1_000));

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS request to the webhook, trusting `trust`, on a new connection. */
function call(method: string, path: string, body?: string | Buffer, trust = ca.certPem): Promise<Answer> {
  const [host, port] = injector.listen.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        method,
        path,
        ca: trust,
        agent: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function admin(path: string): Promise<Answer> {
  const res = await fetch(`http://${injector.admin}${path}`);
  return { status: res.status, body: await res.text() };
}

function review(namespace: string, object: O, extra: O = {}): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `uid-${Math.random()}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace,
      operation: "CREATE",
      object,
      ...extra,
    },
  });
}

const POD: O = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    generateName: "web-5f7b-",
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5f7b", uid: "rs-1", controller: true },
    ],
  },
  spec: { containers: [{ name: "app", image: "web:1", ports: [{ containerPort: 8080 }] }] },
};

function counter(metrics: string, result: string): number {
  const m = new RegExp(`^injector_admission_requests_total\\{result="${result}"\\} (\\d+)`, "m").exec(
    metrics,
  );
  return Number(m?.[1] ?? Number.NaN);
}

test("a pod in an annotated namespace comes back with its JSONPatch, and an Event goes on its ReplicaSet", async () => {
  const body = review("shop", POD);
  const answer = await call("POST", "/inject", body);
  assert.equal(answer.status, 200, answer.body);
  const r = JSON.parse(answer.body) as O;
  assert.equal(r.kind, "AdmissionReview");
  assert.equal(r.response.uid, JSON.parse(body).request.uid);
  assert.equal(r.response.allowed, true);
  assert.equal(r.response.patchType, "JSONPatch");
  const patched = applyPatch(POD, JSON.parse(Buffer.from(r.response.patch, "base64").toString())) as O;
  assert.deepEqual(
    patched.spec.initContainers.map((c: O) => c.name),
    ["trellis-init", "trellis-proxy"],
  );
  await injector.eventsIdle();
  const event = sources.events.at(-1);
  assert.equal(event?.reason, "Injected");
  assert.deepEqual(event?.involvedObject, {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    name: "web-5f7b",
    namespace: "shop",
    uid: "rs-1",
  });
  assert.equal(event?.reportingInstance, "injector-0");

  // Not annotated: allowed with no patch, and an Event saying why.
  const plain = JSON.parse((await call("POST", "/inject", review("plain", POD))).body) as O;
  assert.deepEqual(Object.keys(plain.response).sort(), ["allowed", "uid"]);
  await injector.eventsIdle();
  assert.equal(sources.events.at(-1)?.reason, "InjectionSkipped");
});

test("a dry run is answered the same but writes no Event", async () => {
  const before = sources.events.length;
  const r = JSON.parse((await call("POST", "/inject", review("shop", POD, { dryRun: true }))).body) as O;
  assert.equal(r.response.patchType, "JSONPatch");
  await injector.eventsIdle();
  assert.equal(sources.events.length, before);
});

test("garbage gets its status and a line naming the fault, and the webhook keeps serving", async () => {
  const metricsBefore = (await admin("/metrics")).body;
  const cases: [string, string, string | Buffer | undefined, number, RegExp][] = [
    ["POST", "/inject", "{not json", 400, /TRELLIS_E_INJECTOR_BAD_REVIEW: .*the body is not JSON/],
    ["POST", "/inject", "", 400, /the body is not JSON/],
    ["POST", "/inject", '"a string"', 400, /not a JSON object/],
    [
      "POST",
      "/inject",
      JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: {} }),
      400,
      /apiVersion is "admission.k8s.io\/v1beta1"/,
    ],
    [
      "POST",
      "/inject",
      JSON.stringify({ apiVersion: "v1", kind: "Pod" }),
      400,
      /kind is "Pod", not "AdmissionReview"/,
    ],
    [
      "POST",
      "/inject",
      review("shop", POD).replace('"object":', '"notTheObject":'),
      400,
      /request.object is missing/,
    ],
    ["POST", "/inject", Buffer.alloc(5 * 1024 * 1024, 0x20), 413, /TRELLIS_E_INJECTOR_TOO_LARGE/],
    ["GET", "/inject", undefined, 405, /TRELLIS_E_INJECTOR_METHOD: .*GET \/inject/],
    ["POST", "/mutate", review("shop", POD), 404, /TRELLIS_E_INJECTOR_NOT_FOUND: .*POST \/mutate/],
  ];
  for (const [method, path, body, status, pattern] of cases) {
    const answer = await call(method, path, body);
    assert.equal(answer.status, status, `${method} ${path}: ${answer.body}`);
    assert.match(answer.body, pattern);
    assert.equal(answer.body.trim().split("\n").length, 1);
  }
  // Plain HTTP on the TLS port, and a client that does not trust the certificate: no answer, no harm.
  await new Promise<void>((resolve) => {
    const [host, port] = injector.listen.split(":") as [string, string];
    const s = connect(Number(port), host, () => s.end("POST /inject HTTP/1.1\r\nhost: x\r\n\r\n"));
    s.on("close", () => resolve());
    s.on("error", () => resolve());
    s.resume();
  });
  const stranger = await createCa("stranger");
  await assert.rejects(call("POST", "/inject", review("shop", POD), stranger.certPem), /certificate/);

  const good = await call("POST", "/inject", review("shop", POD));
  assert.equal(good.status, 200);
  const metrics = (await admin("/metrics")).body;
  assert.equal(counter(metrics, "bad_request") - counter(metricsBefore, "bad_request"), cases.length);
  assert.ok(counter(metrics, "injected") >= 1);
});

test("answers never wait for Events; past the backlog Events are dropped and counted", async () => {
  sources.holdEvents = true;
  const writtenBefore = sources.events.length;
  // Four are written at once and two wait: the rest are dropped, and every answer still comes.
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => call("POST", "/inject", review("shop", POD))),
  );
  assert.ok(answers.every((a) => a.status === 200));
  const dropped = /^injector_events_total\{result="dropped"\} (\d+)/m.exec((await admin("/metrics")).body);
  assert.equal(Number(dropped?.[1]), 2);
  sources.release();
  await injector.eventsIdle();
  assert.equal(sources.events.length - writtenBefore, 6);
});

test("/ready follows the sources, /live always answers, /metrics has the certificate's expiry", async () => {
  assert.equal((await admin("/ready")).status, 200);
  sources.isReady = false;
  const notReady = await admin("/ready");
  assert.equal(notReady.status, 503);
  assert.match(notReady.body, /namespaces not listed yet/);
  sources.isReady = true;
  assert.equal((await admin("/live")).status, 200);
  const expiry = /^injector_serving_cert_expiration_timestamp_seconds (\S+)/m.exec(
    (await admin("/metrics")).body,
  );
  assert.equal(Number(expiry?.[1]), injector.serving.current().notAfter.getTime() / 1000);
});

test("a new certificate on disk is served from the next connection; a broken one is refused and the old one kept", async () => {
  const next = await createCa("injector-next-ca");
  await writeServing(dir, next);
  await injector.serving.reload();
  assert.equal((await call("POST", "/inject", review("shop", POD), next.certPem)).status, 200);
  await assert.rejects(call("POST", "/inject", review("shop", POD), ca.certPem), /certificate/);

  // A key that is not the certificate's: refused, and the last good pair stays in use.
  const other = await issueCert(next, { commonName: "127.0.0.1", ips: ["127.0.0.1"], usage: "server" });
  writeFileSync(join(dir, "tls.key"), other.keyPem);
  await injector.serving.reload();
  assert.equal((await call("POST", "/inject", review("shop", POD), next.certPem)).status, 200);
  const reloads = (await admin("/metrics")).body;
  assert.match(reloads, /^injector_serving_certificate_reloads_total\{result="applied"\} 1$/m);
  assert.match(reloads, /^injector_serving_certificate_reloads_total\{result="refused"\} 1$/m);
});

function controller(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin("trellis-controller"), ...args],
      { cwd: repoRoot, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      },
    );
  });
}

test("trellis-controller injector: a bad flag exits 2 naming it; an unusable certificate exits 1 naming the file", async () => {
  const missing = await controller(["injector"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /required option '--tls-cert-file <path>' not specified/);
  const listen = await controller(["injector", "--tls-cert-file=x", "--tls-key-file=y", "--listen=nowhere"]);
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /--listen.*expected host:port/);
  const ns = await controller([
    "injector",
    "--tls-cert-file=x",
    "--tls-key-file=y",
    "--control-plane-namespace=Bad_NS",
  ]);
  assert.equal(ns.code, 2);

  const garbage = join(dir, "garbage.pem");
  writeFileSync(garbage, "not a certificate\n");
  const bad = await controller([
    "injector",
    `--tls-cert-file=${garbage}`,
    `--tls-key-file=${join(dir, "tls.key")}`,
  ]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /TRELLIS_E_INJECTOR_TLS: the serving certificate is unusable: --tls-cert-file .*garbage\.pem holds no PEM certificate/,
  );
  assert.equal(bad.stdout, "");
  const absent = await controller([
    "injector",
    `--tls-cert-file=${join(dir, "nope.crt")}`,
    "--tls-key-file=nope.key",
  ]);
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /--tls-cert-file .*nope\.crt: ENOENT/);
});
