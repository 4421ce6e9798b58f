/**
 * A stand-in Kubernetes API server on 127.0.0.1 for informer tests: list and watch over HTTP as
 * kube-apiserver answers them, for Services, EndpointSlices and Pods (every other path is 404, as for a
 * CRD that is not installed). A watch from an old resourceVersion is told 410 Expired, so a restarted
 * informer has to re-list; breakWatches() cuts every open watch mid-stream.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";

export type Obj = {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  [k: string]: unknown;
};

/** The kinds it serves, by path; anything else is 404 (as for a CRD not installed). */
const PATHS: Record<string, string> = {
  "/api/v1/services": "services",
  "/apis/discovery.k8s.io/v1/endpointslices": "endpointslices",
  "/api/v1/pods": "pods",
};

/** Starts the stand-in on 127.0.0.1; it is closed when the test ends. */
export async function fakeApiServer(t: TestContext) {
  let rv = 1;
  const objects: Record<string, Map<string, Obj>> = {
    services: new Map(),
    endpointslices: new Map(),
    pods: new Map(),
  };
  const watches = new Set<{ kind: string; res: ServerResponse }>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const kind = PATHS[url.pathname];
    requests.push(`${url.pathname}${url.searchParams.get("watch") ? " watch" : ""}`);
    if (!kind) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          code: 404,
          reason: "NotFound",
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    if (url.searchParams.get("watch") !== "true") {
      res.end(
        JSON.stringify({
          kind: "List",
          apiVersion: "v1",
          metadata: { resourceVersion: String(rv) },
          items: [...(objects[kind] as Map<string, Obj>).values()],
        }),
      );
      return;
    }
    if (url.searchParams.get("resourceVersion") !== String(rv)) {
      // Too old: what kube-apiserver says when it cannot replay from there.
      res.end(
        `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } })}\n`,
      );
      return;
    }
    const w = { kind, res };
    watches.add(w);
    res.on("close", () => watches.delete(w));
    res.flushHeaders();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    /** Stores an object and tells open watches (unless quiet: then only a re-list sees it). */
    put(kind: string, obj: Obj, quiet = false) {
      rv++;
      obj.metadata.resourceVersion = String(rv);
      const map = objects[kind] as Map<string, Obj>;
      const type = map.has(`${obj.metadata.namespace}/${obj.metadata.name}`) ? "MODIFIED" : "ADDED";
      map.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
      if (quiet) return;
      for (const w of watches) if (w.kind === kind) w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    },
    /** Breaks every open watch mid-stream. */
    breakWatches() {
      for (const w of watches) w.res.socket?.destroy();
    },
  };
}

/** A client configuration for the stand-in at url (plain HTTP, a dummy token). */
export function kubeConfigFor(url: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
  return kubeConfig;
}
