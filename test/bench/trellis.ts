/**
 * The Trellis path: the identity service (local token verifier) certifies two proxies, both real
 * `trellis-proxy` processes configured only through their environment, as in a pod:
 * wrk → client proxy outbound → mTLS → server proxy inbound → backend.
 */

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLocalTokenKey, mintLocalToken } from "../../control/local/tokens.js";
import { PROXY_NODE_FLAGS } from "../../proxy/node-flags.js";
import { bin } from "../support/process.js";
import { MESH } from "./params.js";
import { type BenchPki, identityOf } from "./pki.js";
import { freePort, spawnTracked } from "./processes.js";
import type { TargetResult } from "./target.js";

interface ProxyReady {
  identity: string;
  inbound: string;
  outbound: string;
  admin: string;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * Starts the identity service and the two proxies; resolves once both proxies are ready. With
 * `opaque`, the client proxy carries the backend as an opaque TCP destination (a `bind` listener):
 * the same processes and mTLS, with no HTTP awareness, which is the floor for a Node proxy pair.
 */
export async function startTrellis(
  dir: string,
  pki: BenchPki,
  backendPort: number,
  { opaque = false }: { opaque?: boolean } = {},
): Promise<TargetResult> {
  for (const name of ["trellis-controller", "trellis-proxy"] as const) {
    if (!existsSync(bin(name))) return { ok: false, reason: `${bin(name)} is not built (npm run build)` };
  }
  const tokenKey = await createLocalTokenKey();
  const tokenPublicKeyFile = join(dir, "token-key.pub");
  await writeFile(tokenPublicKeyFile, tokenKey.publicKeyPem);

  const identity = spawnTracked("identity", process.execPath, [
    bin("trellis-controller"),
    "identity",
    `--listen=127.0.0.1:${await freePort()}`,
    `--admin-listen=127.0.0.1:${await freePort()}`,
    `--trust-domain=${MESH.trustDomain}`,
    `--trust-anchors-file=${pki.anchorFile}`,
    `--issuer-certificate-file=${pki.issuerCertFile}`,
    `--issuer-key-file=${pki.issuerKeyFile}`,
    `--issuance-lifetime=${MESH.issuanceLifetime}`,
    "--token-verifier=local",
    `--local-token-public-key-file=${tokenPublicKeyFile}`,
  ]);
  const service = await identity.ready<{ identity: string; listen: string }>(READY_TIMEOUT_MS);

  const startProxy = async (serviceAccount: string, env: Record<string, string>) => {
    const tokenFile = join(dir, `${serviceAccount}.token`);
    const token = await mintLocalToken(tokenKey.privateKeyPem, {
      namespace: MESH.namespace,
      serviceAccount,
      ttlSeconds: 3600,
    });
    await writeFile(tokenFile, token, { mode: 0o600 });
    // TRELLIS_BENCH_PROXY_NODE_ARGS: extra node flags for the proxies (e.g. --cpu-prof to profile them).
    const nodeArgs = (process.env.TRELLIS_BENCH_PROXY_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const proxy = spawnTracked(
      `${serviceAccount}-proxy`,
      process.execPath,
      [...PROXY_NODE_FLAGS, ...nodeArgs, bin("trellis-proxy")],
      {
        TRELLIS_PROXY_INBOUND_LISTEN_ADDR: "127.0.0.1:0",
        TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:0",
        TRELLIS_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:0",
        TRELLIS_PROXY_IDENTITY_NAME: identityOf(serviceAccount),
        TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: pki.anchorPem,
        TRELLIS_PROXY_IDENTITY_TOKEN_FILE: tokenFile,
        TRELLIS_PROXY_IDENTITY_SVC_ADDR: service.listen,
        TRELLIS_PROXY_IDENTITY_SVC_NAME: service.identity,
        TRELLIS_PROXY_DESTINATIONS: "[]",
        ...env,
      },
    );
    const ready = await proxy.ready<ProxyReady>(READY_TIMEOUT_MS);
    const pid = proxy.process.pid ?? -1;
    return { ready, pids: () => [pid] };
  };

  // The server side first: the client's destination table names its inbound port.
  const server = await startProxy(MESH.serverServiceAccount, {
    TRELLIS_PROXY_INBOUND_PORTS: String(backendPort),
  });
  const inboundPort = Number(server.ready.inbound.slice(server.ready.inbound.lastIndexOf(":") + 1));
  const bind = opaque ? `127.0.0.1:${await freePort()}` : undefined;
  const destinations = [
    {
      authority: MESH.authority,
      endpoints: [{ address: `127.0.0.1:${backendPort}`, identity: server.ready.identity, inboundPort }],
      ...(bind ? { protocol: "opaque", bind } : {}),
    },
  ];
  const client = await startProxy(MESH.clientServiceAccount, {
    TRELLIS_PROXY_INBOUND_PORTS: "",
    TRELLIS_PROXY_DESTINATIONS: JSON.stringify(destinations),
  });
  return {
    ok: true,
    target: {
      name: opaque ? "trellis-opaque" : "trellis",
      description: opaque
        ? "wrk → proxy → mTLS, opaque TCP → proxy → backend"
        : "wrk → proxy → mTLS → proxy → backend",
      address: bind ?? client.ready.outbound,
      sidecars: { client: client.pids, server: server.pids },
      admin: { client: client.ready.admin, server: server.ready.admin },
    },
  };
}
