/**
 * The real destination service over its local store (a directory of YAML files) for integration
 * tests: pods (an app on its own loopback address behind its own proxy), the Service and
 * ServiceProfile documents that name them, and the service itself, certified by the mesh's identity
 * service. Files are written the way an editor or a ConfigMap update writes them (renamed into place).
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mintLocalToken } from "../../control/local/tokens.js";
import { NAMESPACE, type TestMesh, type TestProxy } from "./mesh.js";
import { bin, type Child, startNode } from "./process.js";

type Cleanup = { after(fn: () => unknown): void };

export const inboundPortOf = (p: { inbound: string }) =>
  Number(p.inbound.slice(p.inbound.lastIndexOf(":") + 1));

/** Writes a file as a new file renamed into place, so the store never reads half of it. */
export async function put(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

/** A local Service document: port 80 to `appPort` on each endpoint's address, behind its proxy. */
export function serviceYaml(
  name: string,
  appPort: number,
  endpoints: { ip: string; proxy: TestProxy }[],
): string {
  return `${JSON.stringify({
    apiVersion: "local.trellis.dev/v1",
    kind: "Service",
    metadata: { name, namespace: NAMESPACE },
    spec: {
      ports: [{ name: "http", port: 80, targetPort: appPort }],
      endpoints: endpoints.map((e) => ({
        address: e.ip,
        pod: `${name}-${e.ip}`,
        deployment: name,
        serviceAccount: "server",
        inboundPort: inboundPortOf(e.proxy),
      })),
    },
  })}\n`;
}

/** A ServiceProfile with one catch-all route bounded by `timeout` (a duration such as "500ms"). */
export function timeoutProfileYaml(service: string, timeout: string): string {
  return `${JSON.stringify({
    apiVersion: "trellis.dev/v1alpha1",
    kind: "ServiceProfile",
    metadata: { name: `${service}.${NAMESPACE}.svc.cluster.local`, namespace: NAMESPACE },
    spec: { routes: [{ name: "all", condition: { pathRegex: "/.*" }, timeout }] },
  })}\n`;
}

/**
 * The destination service on the store in `dir`, as trellis/trellis-destination, once ready; on
 * `listen` (default any free loopback port: a test that restarts it passes the same address again).
 */
export async function startLocalDestination(
  t: Cleanup,
  mesh: TestMesh,
  dir: string,
  listen = "127.0.0.1:0",
): Promise<{ child: Child; listen: string; identity: string }> {
  await mkdir(dir, { recursive: true });
  const token = join(mesh.dir, "trellis-trellis-destination.token");
  await writeFile(
    token,
    await mintLocalToken(mesh.tokenKey.privateKeyPem, {
      namespace: "trellis",
      serviceAccount: "trellis-destination",
      ttlSeconds: 3600,
    }),
    { mode: 0o600 },
  );
  const anchors = join(mesh.dir, "anchors.pem");
  await writeFile(anchors, mesh.pki.anchor.certPem);
  const child = startNode(t as never, bin("trellis-controller"), [
    "destination",
    "--source=local",
    `--local-dir=${dir}`,
    `--listen=${listen}`,
    "--admin-listen=127.0.0.1:0",
    `--identity-svc-addr=${mesh.identityService.listen}`,
    `--identity-svc-name=${mesh.identityService.identity}`,
    `--identity-token-file=${token}`,
    `--trust-anchors-file=${anchors}`,
  ]);
  const ready = await child.ready<{ listen: string; identity: string }>(30_000);
  return { child, listen: ready.listen, identity: ready.identity };
}

/** A client proxy that discovers through `destination`, with any other variables in `env`. */
export function discoveringClient(
  mesh: TestMesh,
  destination: { listen: string; identity: string },
  env: Record<string, string> = {},
): Promise<TestProxy> {
  return mesh.proxy("client", {
    env: {
      TRELLIS_PROXY_DESTINATION_SVC_ADDR: destination.listen,
      TRELLIS_PROXY_DESTINATION_SVC_NAME: destination.identity,
      ...env,
    },
  });
}
