// The restarting informer against a stand-in API server (fake-api-server.ts): it lists, follows watch
// events, restarts after a broken watch by re-listing, keeps retrying a kind the server does not serve
// (a CRD not installed) with growing waits, and stops for good on stop().
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { RestartingInformer } from "../../../control/k8s/informer.js";
import { listWatches } from "../../../control/k8s/resources.js";
import { memoryLogger } from "../../support/log.js";
import { until as poll } from "../../support/wait.js";
import { fakeApiServer, kubeConfigFor, type Obj } from "./fake-api-server.js";

const pod = (name: string): Obj => ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "shop" } });

/** Resolves once check() holds, checking after each event the informer reports. */
function eventually(events: (() => void)[], check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = () => {
      if (!check()) return;
      events.splice(events.indexOf(listener), 1);
      resolve();
    };
    events.push(listener);
    listener();
  });
}

function start(t: TestContext, url: string, kind: "pods" | "serviceProfiles") {
  const log = memoryLogger();
  const listeners: (() => void)[] = [];
  const kc = kubeConfigFor(url);
  const informer = new RestartingInformer(kind, kc, listWatches(kc)[kind], {
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    log: log.log,
    onEvent: () => {
      for (const l of [...listeners]) l();
    },
  });
  t.after(() => informer.stop());
  void informer.start();
  const names = () => informer.list().map((o) => o.metadata?.name);
  return { informer, log, names, until: (check: () => boolean) => eventually(listeners, check) };
}

test("an informer lists, follows watch events, and re-lists after a broken watch", async (t) => {
  const api = await fakeApiServer(t);
  api.put("pods", pod("a"));
  const { informer, log, names, until } = start(t, api.url, "pods");
  await informer.whenSynced();
  assert.deepEqual(names(), ["a"]);
  assert.ok(log.lines().some((l) => l.msg === "informer synced" && l.kind === "pods"));

  api.put("pods", pod("b"));
  await until(() => names().length === 2);

  const lists = api.requests.filter((r) => r === "/api/v1/pods").length;
  api.breakWatches();
  api.put("pods", pod("c"), true);
  await until(() => names().includes("c"));
  assert.ok(api.requests.filter((r) => r === "/api/v1/pods").length > lists);
});

test("a kind the API server does not serve is retried within the backoff's bounds, and stop() ends the retries", async (t) => {
  const api = await fakeApiServer(t);
  const { informer, log } = start(t, api.url, "serviceProfiles");
  const failures = () =>
    log
      .lines()
      .filter((l) => l.msg === "informer failed; restarting after backoff" && l.kind === "serviceProfiles");
  // The log has no event to await: look again every few milliseconds.
  await poll("three failed attempts to be logged", () => failures().length >= 3);
  const waits = failures().map((l) => l.retryInMs as number);
  assert.ok(
    waits.every((w) => w >= 20 && w <= 200),
    `${waits}`,
  );
  assert.equal(informer.synced, false);

  await informer.stop();
  const before = api.requests.length;
  // Longer than the longest backoff: a retry still scheduled would have asked by then. One list already
  // on its way when stop() was called may still arrive. Nothing marks a retry that never comes, so this
  // waits; a slow machine can only let a stray retry go unseen, never fail a stop that works.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(api.requests.length <= before + 1, `${api.requests.length - before} requests after stop()`);
});
