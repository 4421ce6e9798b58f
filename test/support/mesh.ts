/**
 * A mesh for integration tests, started the way a cluster runs it: the real identity service
 * (`trellis-controller identity`, local token verifier) and real `trellis-proxy` processes configured
 * only through their environment, each with a ServiceAccount token file the test mints.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { createLocalTokenKey, type LocalTokenKey, mintLocalToken } from "../../control/local/tokens.js";
import { PROXY_NODE_FLAGS } from "../../proxy/node-flags.js";
import { freePort } from "../lib/identity/helpers.js";
import { scrape } from "./metrics.js";
import { type MeshPki, makeMeshPki } from "./pki.js";
import { bin, type Child, startCommand } from "./process.js";

export { freePort };

export const NAMESPACE = "test";

export interface ProxyReady {
  identity: string;
  inbound: string;
  outbound: string;
  admin: string;
}

export interface TestProxy extends ProxyReady {
  child: Child;
  metrics(): Promise<string>;
}

export interface ProxyOptions {
  /** TRELLIS_PROXY_INBOUND_PORTS */
  inboundPorts?: number[];
  /** TRELLIS_PROXY_DESTINATIONS, as objects. */
  destinations?: unknown[];
  /** Any other variables (they win over the defaults). */
  env?: Record<string, string>;
  /** A command prefix the proxy runs under, e.g. `ip netns exec <ns> setpriv ...` (its listen addresses then come from `env`). */
  exec?: string[];
  /** The proxy's entry point, default the build's (dist/proxy/main.js). */
  script?: string;
}

export interface TestMesh {
  dir: string;
  pki: MeshPki;
  tokenKey: LocalTokenKey;
  /** The identity service's address and SPIFFE ID. */
  identityService: { listen: string; identity: string; admin: string };
  /** Stops the identity service and starts it again on the same port. */
  restartIdentity(): Promise<void>;
  /** Stops the identity service (SIGTERM, then SIGKILL past its grace). */
  stopIdentity(): Promise<void>;
  /** Starts the identity service again on the same port, once stopped; resolves once it is ready. */
  startIdentity(): Promise<void>;
  identityOf(serviceAccount: string): string;
  /** Starts a proxy for the service account and waits until it is ready. */
  proxy(serviceAccount: string, options?: ProxyOptions): Promise<TestProxy>;
  /** The environment a proxy for the service account starts with (for tests that start it themselves). */
  proxyEnv(serviceAccount: string, options?: ProxyOptions): Promise<Record<string, string>>;
}

export interface MeshOptions {
  /** The identity service's --issuance-lifetime (default 24h). */
  issuanceLifetime?: string;
  /** Where the identity service listens (default 127.0.0.1). */
  host?: string;
  /** A command prefix the identity service runs under, e.g. `ip netns exec <ns>`. */
  exec?: string[];
}

export async function startMesh(t: TestContext, options: MeshOptions = {}): Promise<TestMesh> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-mesh-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await makeMeshPki({ dir });
  const files = pki.files;
  if (!files) throw new Error("makeMeshPki wrote no files");
  const tokenKey = await createLocalTokenKey();
  const publicKeyFile = join(dir, "token-key.pub");
  await writeFile(publicKeyFile, tokenKey.publicKeyPem);
  const port = await freePort();

  let identity: Child | undefined;
  const startIdentity = async () => {
    const [command = process.execPath, ...prefix] = [...(options.exec ?? []), process.execPath];
    identity = startCommand(t, command, [
      ...prefix,
      bin("trellis-controller"),
      "identity",
      `--listen=${options.host ?? "127.0.0.1"}:${port}`,
      "--admin-listen=127.0.0.1:0",
      `--trust-anchors-file=${files.trustAnchors}`,
      `--issuer-certificate-file=${files.issuerCert}`,
      `--issuer-key-file=${files.issuerKey}`,
      `--issuance-lifetime=${options.issuanceLifetime ?? "24h"}`,
      "--token-verifier=local",
      `--local-token-public-key-file=${publicKeyFile}`,
    ]);
    return identity.ready<{ listen: string; identity: string; admin: string }>(30_000);
  };
  const identityService = await startIdentity();

  const identityOf = (sa: string) => pki.identity(NAMESPACE, sa);
  const proxyEnv = async (sa: string, o: ProxyOptions = {}) => {
    const tokenFile = join(dir, `${sa}.token`);
    await writeFile(
      tokenFile,
      await mintLocalToken(tokenKey.privateKeyPem, {
        namespace: NAMESPACE,
        serviceAccount: sa,
        ttlSeconds: 3600,
      }),
    );
    return {
      TRELLIS_PROXY_INBOUND_LISTEN_ADDR: "127.0.0.1:0",
      TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:0",
      TRELLIS_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:0",
      TRELLIS_PROXY_INBOUND_PORTS: (o.inboundPorts ?? []).join(","),
      TRELLIS_PROXY_IDENTITY_NAME: identityOf(sa),
      TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: pki.anchor.certPem,
      TRELLIS_PROXY_IDENTITY_TOKEN_FILE: tokenFile,
      TRELLIS_PROXY_IDENTITY_SVC_ADDR: identityService.listen,
      TRELLIS_PROXY_IDENTITY_SVC_NAME: identityService.identity,
      TRELLIS_PROXY_IDENTITY_RETRY_BASE_MS: "100",
      TRELLIS_PROXY_IDENTITY_RETRY_MAX_MS: "1000",
      TRELLIS_PROXY_DESTINATIONS: JSON.stringify(o.destinations ?? []),
      TRELLIS_PROXY_POD_NAMESPACE: NAMESPACE,
      TRELLIS_PROXY_POD_NAME: `${sa}-0`,
      TRELLIS_PROXY_DEPLOYMENT: sa,
      ...o.env,
    };
  };

  return {
    dir,
    pki,
    tokenKey,
    identityService,
    identityOf,
    proxyEnv,
    async restartIdentity() {
      await identity?.stop();
      await startIdentity();
    },
    async stopIdentity() {
      await identity?.stop();
    },
    async startIdentity() {
      await startIdentity();
    },
    async proxy(sa, o = {}) {
      const [command = process.execPath, ...prefix] = [...(o.exec ?? []), process.execPath];
      const child = startCommand(
        t,
        command,
        [...prefix, ...PROXY_NODE_FLAGS, o.script ?? bin("trellis-proxy")],
        await proxyEnv(sa, o),
      );
      const ready = await child.ready<ProxyReady>(30_000);
      // Whatever a test did to it, a proxy must never have hit an error nothing handled: it logs
      // those as "uncaught exception" and goes on, which would hide the bug.
      t.after(() => assert.doesNotMatch(child.stderr(), /uncaught exception/, `${sa}'s proxy`));
      return { ...ready, child, metrics: () => scrape(ready.admin) };
    },
  };
}

/** The static destination entry that sends `authority` to an app port behind a peer proxy. */
export function meshedDestination(
  authority: string,
  appPort: number,
  peer: ProxyReady,
  labels: Record<string, string> = {},
) {
  const inboundPort = Number(peer.inbound.slice(peer.inbound.lastIndexOf(":") + 1));
  return {
    authority,
    labels,
    endpoints: [{ address: `127.0.0.1:${appPort}`, identity: peer.identity, inboundPort }],
  };
}

/** One HTTP/1.1 GET through a proxy's outbound listener, for `authority` (fetch cannot set Host). */
export function get(
  outbound: string,
  authority: string,
  path = "/",
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const port = Number(outbound.slice(outbound.lastIndexOf(":") + 1));
  const host = outbound.slice(0, outbound.lastIndexOf(":"));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, path, headers: { host: authority }, timeout: timeoutMs },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path} via ${outbound} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
