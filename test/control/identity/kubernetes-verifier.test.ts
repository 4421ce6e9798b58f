// The TokenReview verifier's decisions against a stand-in API server (test/control/k8s): what an
// answer must say for a token to prove a ServiceAccount, and that a review that cannot be made is
// "unavailable", not a bad token.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { KubernetesTokenVerifier } from "../../../control/identity/kubernetes-verifier.js";
import { startTokenReviewServer, type TokenReviewServer } from "../k8s/token-review-server.js";

let api: TokenReviewServer;
before(async () => {
  api = await startTokenReviewServer();
});
after(() => api.close());

test("an authenticated ServiceAccount token for our audience names its namespace and ServiceAccount", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig: api.kubeconfig });
  const before = api.seen.length;
  assert.deepEqual(await verifier.verify("web-token"), {
    ok: true,
    namespace: "shop",
    serviceAccount: "web",
  });
  assert.deepEqual(api.seen[before]?.body.spec, { token: "web-token", audiences: ["identity.trellis.dev"] });
  // A review without audiences in its status (older API servers) is accepted on the username.
  assert.equal((await verifier.verify("no-audiences")).ok, true);
});

test("unauthenticated tokens, other audiences and users that are not ServiceAccounts are refused", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig: api.kubeconfig });
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

test("a review that cannot be made is unavailable, not a bad token", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig: api.kubeconfig });
  for (const [token, reason] of [
    ["forbidden", /HTTP 403.*forbidden/],
    ["server-error", /HTTP 500.*etcd is down/],
  ] as const) {
    const verdict = await verifier.verify(token);
    assert.ok(!verdict.ok && verdict.unavailable === true, token);
    assert.match(!verdict.ok ? verdict.reason : "", reason);
  }
});

test("empty and oversized tokens are refused without asking the API server", async () => {
  const verifier = KubernetesTokenVerifier.fromOptions({ kubeconfig: api.kubeconfig });
  const before = api.seen.length;
  assert.equal((await verifier.verify("")).ok, false);
  assert.equal((await verifier.verify("x".repeat(100_000))).ok, false);
  assert.equal(api.seen.length, before);
});
