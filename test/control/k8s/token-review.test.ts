// The TokenReview call against a stand-in API server (token-review-server.ts): the request it sends,
// the status it hands back untouched, and every way a review cannot be made (an API error, a refused
// client, an unreachable API server), each a failure naming why.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { loadKubeConfig } from "../../../control/k8s/client.js";
import { TokenReviewer } from "../../../control/k8s/token-review.js";
import { closedPort, startTokenReviewServer, type TokenReviewServer } from "./token-review-server.js";

let api: TokenReviewServer;
before(async () => {
  api = await startTokenReviewServer();
});
after(() => api.close());

test("a review asks for the token and audiences and answers the API server's status", async () => {
  const reviewer = new TokenReviewer(loadKubeConfig(api.kubeconfig));
  const before = api.seen.length;
  const answer = await reviewer.review("web-token", ["identity.trellis.dev"]);
  assert.ok(answer.ok);
  assert.equal(answer.status.authenticated, true);
  assert.equal(answer.status.user?.username, "system:serviceaccount:shop:web");
  assert.deepEqual(answer.status.audiences, ["identity.trellis.dev"]);
  const request = api.seen[before];
  assert.equal(request?.body.kind, "TokenReview");
  assert.equal(request?.body.apiVersion, "authentication.k8s.io/v1");
  assert.deepEqual(request?.body.spec, { token: "web-token", audiences: ["identity.trellis.dev"] });

  // A rejected token is still an answer: what it proves is the caller's decision.
  const rejected = await reviewer.review("garbage", ["identity.trellis.dev"]);
  assert.ok(rejected.ok);
  assert.equal(rejected.status.authenticated, false);
});

test("API errors, a refused client and an unreachable API server are failures that say why", async () => {
  const reviewer = new TokenReviewer(loadKubeConfig(api.kubeconfig));
  for (const [token, reason] of [
    ["forbidden", /^TokenReview failed: HTTP 403.*forbidden/],
    ["server-error", /^TokenReview failed: HTTP 500.*etcd is down/],
  ] as const) {
    const answer = await reviewer.review(token, ["identity.trellis.dev"]);
    assert.ok(!answer.ok, token);
    assert.match(answer.reason, reason);
  }

  const badCredentials = await api.writeKubeconfig("bad-user", `https://127.0.0.1:${api.port}`, "wrong");
  const refused = await new TokenReviewer(loadKubeConfig(badCredentials)).review("web-token", []);
  assert.ok(!refused.ok);
  assert.match(refused.reason, /HTTP 401/);

  const unreachable = await api.writeKubeconfig("unreachable", `https://127.0.0.1:${await closedPort()}`);
  const down = await new TokenReviewer(loadKubeConfig(unreachable), { timeoutMs: 5000 }).review(
    "web-token",
    [],
  );
  assert.ok(!down.ok);
  assert.match(down.reason, /^TokenReview failed: /);
});

test("loading a kubeconfig without a current cluster fails, naming why", async () => {
  const empty = await api.writeKubeconfig("no-cluster", `https://127.0.0.1:${api.port}`);
  await writeFile(
    empty,
    (await readFile(empty, "utf8")).replace(/current-context: test/, 'current-context: ""'),
  );
  assert.throws(() => loadKubeConfig(empty), /no current cluster/);
});
