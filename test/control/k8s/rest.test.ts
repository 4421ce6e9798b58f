// The JSON client check reads the API server with, against a plain HTTP stand-in: objects and lists as
// JSON, 404 as absent, a Status error as its message, text through a proxy path, a POSTed body, a
// refused connection and a server that never answers, each a result rather than a throw; and the
// kubeconfig's --context as kubectl takes it.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../../../control/k8s/client.js";
import { RestClient } from "../../../control/k8s/rest.js";

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "t0ken" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  return kc;
}

async function standIn(t: { after: (fn: () => void) => void }) {
  const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.url === "/api/v1/namespaces/trellis") return json(200, { metadata: { name: "trellis" } });
      if (req.url === "/api/v1/namespaces/absent")
        return json(404, { kind: "Status", message: 'namespaces "absent" not found' });
      if (req.url === "/api/v1/secrets")
        return json(403, { kind: "Status", message: "secrets is forbidden" });
      if (req.url === "/api/v1/namespaces/a/pods/p:9990/proxy/ready") {
        res.writeHead(503, { "content-type": "text/plain" });
        return res.end("not ready: no issuer\n");
      }
      if (req.url === "/slow") return; // never answers
      if (req.method === "POST") return json(201, { echoed: JSON.parse(body) });
      json(404, {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  server.unref();
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test("GET answers JSON, 404 as undefined, other statuses as the Status message; every request carries the credentials", async (t) => {
  const api = await standIn(t);
  const client = new RestClient(kubeConfig(api.url));
  assert.deepEqual(await client.get("/api/v1/namespaces/trellis"), {
    ok: true,
    status: 200,
    body: { metadata: { name: "trellis" } },
  });
  assert.deepEqual(await client.get("/api/v1/namespaces/absent"), { ok: true, status: 404, body: undefined });
  assert.deepEqual(await client.get("/api/v1/secrets"), {
    ok: false,
    status: 403,
    reason: "HTTP 403: secrets is forbidden",
  });
  assert.deepEqual(await client.getText("/api/v1/namespaces/a/pods/p:9990/proxy/ready"), {
    ok: false,
    status: 503,
    reason: "HTTP 503: not ready: no issuer",
  });
  assert.deepEqual(await client.post("/apis/x", { spec: { verb: "create" } }), {
    ok: true,
    status: 201,
    body: { echoed: { spec: { verb: "create" } } },
  });
  assert.ok(api.seen.every((r) => r.auth === "Bearer t0ken"));
});

test("a refused connection and a server that never answers are results naming the server", async (t) => {
  const refused = await new RestClient(kubeConfig("http://127.0.0.1:1")).get("/version");
  assert.deepEqual(refused, { ok: false, status: 0, reason: "connection refused by http://127.0.0.1:1" });
  const api = await standIn(t);
  const slow = await new RestClient(kubeConfig(api.url), 200).getText("/slow");
  assert.equal(slow.ok, false);
  assert.match((slow as { reason: string }).reason, /no answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms/);
});

test("--context picks another context of the kubeconfig; an unknown one is an error", () => {
  const path = join(mkdtempSync(join(tmpdir(), "rest-")), "kubeconfig");
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "http://127.0.0.1:1"}}, {name: b, cluster: {server: "http://127.0.0.1:2"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: a, context: {cluster: a, user: u}}, {name: b, context: {cluster: b, user: u}}]
current-context: a
`,
  );
  assert.equal(loadKubeConfig(path).getCurrentCluster()?.server, "http://127.0.0.1:1");
  assert.equal(loadKubeConfig(path, "b").getCurrentCluster()?.server, "http://127.0.0.1:2");
  assert.throws(() => loadKubeConfig(path, "c"), /the kubeconfig has no context "c"/);
});
