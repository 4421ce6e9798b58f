// The TokenReview verifier against a stand-in API server: a real HTTPS server on 127.0.0.1 serving
// POST /apis/authentication.k8s.io/v1/tokenreviews, reached through a real kubeconfig file (CA data and
// a bearer token), so the client library, TLS and the request shape are all the real ones.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { KubernetesTokenVerifier } from "../../../control/identity/kubernetes-verifier.js";
import { makeLoopbackServerCert } from "../../support/pki.js";

const ADMIN_TOKEN = "admin-token";
const PATH = "/apis/authentication.k8s.io/v1/tokenreviews";

interface Seen {
  authorization: string | undefined;
  body: { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
}

const seen: Seen[] = [];
let server: Server;
let dir: string;
let kubeconfig: string;
let caPem: string;

// What the stand-in answers for each token.
function review(token: string): { status: number; body: unknown } {
  const ok = (status: Record<string, unknown>) => ({
    status: 201,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token }, status },
  });
  const user = (username: string) => ({ username, uid: "u-1", groups: ["system:serviceaccounts"] });
  switch (token) {
    case "web-token":
      return ok({
        authenticated: true,
        user: user("system:serviceaccount:shop:web"),
        audiences: ["identity.trellis.dev"],
      });
    case "no-audiences":
      return ok({ authenticated: true, user: user("system:serviceaccount:shop:web") });
    case "other-audience":
      return ok({
        authenticated: true,
        user: user("system:serviceaccount:shop:web"),
        audiences: ["https://kubernetes.default.svc"],
      });
    case "a-user":
      return ok({ authenticated: true, user: user("alice"), audiences: ["identity.trellis.dev"] });
    case "forbidden":
      return {
        status: 403,
        body: {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "tokenreviews.authentication.k8s.io is forbidden",
          code: 403,
        },
      };
    case "server-error":
      return {
        status: 500,
        body: { kind: "Status", apiVersion: "v1", status: "Failure", message: "etcd is down", code: 500 },
      };
    default:
      return ok({ authenticated: false, error: "invalid bearer token" });
  }
}

async function writeKubeconfig(name: string, server: string, token = ADMIN_TOKEN): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "test",
          cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
        },
      ],
      users: [{ name: "identity", user: { token } }],
      contexts: [{ name: "test", context: { cluster: "test", user: "identity" } }],
      "current-context": "test",
    }),
  );
  return path;
}

before(async () => {
  const cert = await makeLoopbackServerCert();
  caPem = cert.caPem;
  dir = await mkdtemp(join(tmpdir(), "trellis-kube-"));
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`)
        return send(401, { kind: "Status", status: "Failure", message: "Unauthorized", code: 401 });
      if (req.method !== "POST" || req.url?.split("?")[0] !== PATH)
        return send(404, { kind: "Status", code: 404 });
      const body = JSON.parse(raw) as Seen["body"];
      seen.push({ authorization: req.headers.authorization, body });
      const answer = review(body.spec?.token ?? "");
      send(answer.status, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  kubeconfig = await writeKubeconfig("kubeconfig", `https://127.0.0.1:${port}`);
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

test("an authenticated ServiceAccount token for our audience names its namespace and ServiceAccount", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig });
  const before = seen.length;
  assert.deepEqual(await verifier.verify("web-token"), {
    ok: true,
    namespace: "shop",
    serviceAccount: "web",
  });
  const request = seen[before];
  assert.equal(request?.body.kind, "TokenReview");
  assert.equal(request?.body.apiVersion, "authentication.k8s.io/v1");
  assert.deepEqual(request?.body.spec, { token: "web-token", audiences: ["identity.trellis.dev"] });
  // A review without audiences in its status (older API servers) is accepted on the username.
  assert.equal((await verifier.verify("no-audiences")).ok, true);
});

test("unauthenticated tokens, other audiences and users that are not ServiceAccounts are refused", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig });
  for (const [token, reason] of [
    ["expired-or-garbage", /not authenticated: invalid bearer token/],
    ["other-audience", /do not include identity\.trellis\.dev/],
    ["a-user", /"alice" is not a ServiceAccount/],
  ] as const) {
    const verdict = await verifier.verify(token);
    assert.equal(verdict.ok, false, token);
    assert.ok(!verdict.ok && !verdict.unavailable, token);
    assert.match(!verdict.ok ? verdict.reason : "", reason);
  }
});

test("API errors, a refused client and an unreachable API server are unavailable, not a bad token", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig });
  for (const [token, reason] of [
    ["forbidden", /HTTP 403.*forbidden/],
    ["server-error", /HTTP 500.*etcd is down/],
  ] as const) {
    const verdict = await verifier.verify(token);
    assert.ok(!verdict.ok && verdict.unavailable === true, token);
    assert.match(!verdict.ok ? verdict.reason : "", reason);
  }

  const badCredentials = await writeKubeconfig(
    "bad-user",
    `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    "wrong",
  );
  const refused = await KubernetesTokenVerifier.fromOptions({ kubeconfig: badCredentials }).verify(
    "web-token",
  );
  assert.ok(!refused.ok && refused.unavailable === true);
  assert.match(!refused.ok ? refused.reason : "", /HTTP 401/);

  // A port nothing listens on: bind one, note it, close it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const unreachable = await writeKubeconfig("unreachable", `https://127.0.0.1:${port}`);
  const down = await KubernetesTokenVerifier.fromOptions({ kubeconfig: unreachable, timeoutMs: 5000 }).verify(
    "web-token",
  );
  assert.ok(!down.ok && down.unavailable === true);
});

test("empty and oversized tokens are refused without asking the API server", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig });
  const before = seen.length;
  assert.equal((await verifier.verify("")).ok, false);
  assert.equal((await verifier.verify("x".repeat(100_000))).ok, false);
  assert.equal(seen.length, before);
});
