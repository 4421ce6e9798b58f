/**
 * The local mesh: the identity service with the local token verifier, and for every demo pod its proxy
 * and its app, each its own process configured the way a pod configures it. The mesh owns the state
 * directory (trust anchor, issuer, token key, per-pod token files) and removes it when it stops.
 */

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createIssuer, createTrustAnchor } from "../../control/identity/ca.js";
import { createLocalTokenKey, mintLocalToken } from "../../control/local/tokens.js";
import { PROXY_PORTS } from "../../lib/proxy-env.js";
import { PROXY_NODE_FLAGS } from "../../proxy/node-flags.js";
import { Child } from "./supervisor.js";
import {
  authorityOf,
  DESTINATION_PORTS,
  type DemoPod,
  type DemoTopology,
  IDENTITY_PORTS,
  identityOf,
  podNameOf,
  storeFiles,
} from "./topology.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const script = (rel: string) => join(here, rel);
// Tokens are short-lived and re-minted, as the kubelet rotates projected ServiceAccount tokens.
const TOKEN_TTL_SECONDS = 600;
const TOKEN_REFRESH_MS = 300_000;
/** The namespace of the control plane's own identities, as in a cluster. */
const CONTROL_PLANE_NAMESPACE = "trellis";

/** What the mesh reports about a proxy once it is ready. */
export interface ReadyProxy {
  name: string;
  identity: string;
  app: string;
  outbound: string;
  inbound: string;
  admin: string;
}

export interface MeshOptions {
  topology: DemoTopology;
  /** Called once the trust anchor is written, before anything starts. */
  onTrustAnchor?: (path: string) => void;
  /** Called as soon as each proxy is ready. */
  onProxyReady?: (proxy: ReadyProxy) => void;
  /** Leaf certificate lifetime, e.g. "24h". */
  issuanceLifetime?: string;
  /** Copy every child's stderr (JSON logs) to ours. */
  verbose?: boolean;
}

/** Start order; stopping goes the other way, so apps finish before their proxies and proxies before the CA. */
enum Tier {
  ControlPlane = 0,
  Proxy = 1,
  App = 2,
}

export class LocalMesh {
  private readonly tiers: Child[][] = [[], [], []];
  readonly proxies: ReadyProxy[] = [];
  stateDir = "";

  /** The local store the destination service reads: the demo's Services, profiles and splits. */
  get storeDir(): string {
    return join(this.stateDir, "mesh");
  }
  trustAnchorPath = "";
  private tokenTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MeshOptions) {}

  /** Starts everything; rejects (after stopping what started) when a part does not become ready. */
  async start(): Promise<void> {
    try {
      await this.startUnchecked();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startUnchecked(): Promise<void> {
    const { topology } = this.options;
    this.stateDir = await mkdtemp(join(tmpdir(), "trellis-demo-"));
    const anchor = await createTrustAnchor({ trustDomain: topology.trustDomain });
    const issuer = await createIssuer(anchor, { trustDomain: topology.trustDomain });
    const tokenKey = await createLocalTokenKey();
    this.trustAnchorPath = join(this.stateDir, "trust-anchor.pem");
    const files = {
      issuerCert: join(this.stateDir, "issuer.crt"),
      issuerKey: join(this.stateDir, "issuer.key"),
      tokenPublicKey: join(this.stateDir, "token-key.pub"),
    };
    await writeFile(this.trustAnchorPath, anchor.certPem);
    await writeFile(files.issuerCert, issuer.certPem);
    await writeFile(files.issuerKey, issuer.keyPem, { mode: 0o600 });
    await writeFile(files.tokenPublicKey, tokenKey.publicKeyPem);
    this.options.onTrustAnchor?.(this.trustAnchorPath);

    const identity = this.spawn(Tier.ControlPlane, "identity", script("../../control/main.js"), [
      "identity",
      `--listen=${topology.identityIp}:${IDENTITY_PORTS.grpc}`,
      `--admin-listen=${topology.identityIp}:${IDENTITY_PORTS.admin}`,
      `--trust-domain=${topology.trustDomain}`,
      `--trust-anchors-file=${this.trustAnchorPath}`,
      `--issuer-certificate-file=${files.issuerCert}`,
      `--issuer-key-file=${files.issuerKey}`,
      `--issuance-lifetime=${this.options.issuanceLifetime ?? "24h"}`,
      "--token-verifier=local",
      `--local-token-public-key-file=${files.tokenPublicKey}`,
    ]);
    const identityReady = await identity.ready<{ identity: string; listen: string }>(30_000);

    // Every workload's token, the destination service's included (it is certified like a proxy).
    const destinationToken = join(this.stateDir, "destination.token");
    const mint = async (path: string, namespace: string, serviceAccount: string) =>
      writeFile(
        path,
        await mintLocalToken(tokenKey.privateKeyPem, {
          namespace,
          serviceAccount,
          ttlSeconds: TOKEN_TTL_SECONDS,
        }),
        { mode: 0o600 },
      );
    const writeTokens = () =>
      Promise.all([
        mint(destinationToken, CONTROL_PLANE_NAMESPACE, "trellis-destination"),
        ...topology.pods.map((pod) => mint(this.tokenPath(pod), topology.namespace, pod.name)),
      ]);
    await writeTokens();
    this.tokenTimer = setInterval(() => void writeTokens().catch(() => {}), TOKEN_REFRESH_MS);
    this.tokenTimer.unref();

    const meshDir = this.storeDir;
    await mkdir(meshDir);
    for (const file of storeFiles(topology)) await writeFile(join(meshDir, file.name), file.text);
    const destination = this.spawn(Tier.ControlPlane, "destination", script("../../control/main.js"), [
      "destination",
      "--source=local",
      `--local-dir=${meshDir}`,
      `--listen=${topology.identityIp}:${DESTINATION_PORTS.grpc}`,
      `--admin-listen=${topology.identityIp}:${DESTINATION_PORTS.admin}`,
      `--trust-domain=${topology.trustDomain}`,
      // Served over TLS with its own certificate, which proxies verify as they do the identity service's.
      `--identity-svc-addr=${identityReady.listen}`,
      `--identity-svc-name=${identityReady.identity}`,
      `--identity-token-file=${destinationToken}`,
      `--trust-anchors-file=${this.trustAnchorPath}`,
      `--identity-namespace=${CONTROL_PLANE_NAMESPACE}`,
    ]);
    const destinationReady = await destination.ready<{ identity: string; listen: string }>(30_000);

    // Proxies and apps start together, as containers of a pod do; a proxy is ready once certified.
    await Promise.all(
      topology.pods.map(async (pod) => {
        const proxy = this.spawn(Tier.Proxy, `${pod.name}-proxy`, script("../../proxy/main.js"), [], {
          TRELLIS_PROXY_INBOUND_LISTEN_ADDR: `${pod.ip}:${PROXY_PORTS.INBOUND}`,
          TRELLIS_PROXY_OUTBOUND_LISTEN_ADDR: `${pod.ip}:${PROXY_PORTS.OUTBOUND}`,
          TRELLIS_PROXY_ADMIN_LISTEN_ADDR: `${pod.ip}:${PROXY_PORTS.ADMIN}`,
          TRELLIS_PROXY_INBOUND_PORTS: String(pod.appPort),
          // The pod's "localhost": each demo pod has its own loopback address.
          TRELLIS_PROXY_INBOUND_APP_HOST: pod.ip,
          // Drain within the supervisor's stop grace, so stopping the demo never needs SIGKILL.
          TRELLIS_PROXY_SHUTDOWN_GRACE_MS: "3000",
          TRELLIS_PROXY_IDENTITY_NAME: identityOf(topology, pod.name),
          TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: anchor.certPem,
          TRELLIS_PROXY_IDENTITY_TOKEN_FILE: this.tokenPath(pod),
          TRELLIS_PROXY_IDENTITY_SVC_ADDR: identityReady.listen,
          TRELLIS_PROXY_IDENTITY_SVC_NAME: identityReady.identity,
          TRELLIS_PROXY_DESTINATION_SVC_ADDR: destinationReady.listen,
          TRELLIS_PROXY_DESTINATION_SVC_NAME: destinationReady.identity,
          TRELLIS_PROXY_POD_NAMESPACE: topology.namespace,
          TRELLIS_PROXY_POD_NAME: podNameOf(pod.name),
          TRELLIS_PROXY_DEPLOYMENT: pod.name,
        });
        this.spawn(Tier.App, pod.name, script("app.js"), [], this.appEnv(pod));
        const ready = await proxy.ready<Omit<ReadyProxy, "name" | "app">>(30_000);
        const entry: ReadyProxy = {
          name: pod.name,
          identity: ready.identity,
          app: `${pod.ip}:${pod.appPort}`,
          outbound: ready.outbound,
          inbound: ready.inbound,
          admin: ready.admin,
        };
        this.proxies.push(entry);
        this.options.onProxyReady?.(entry);
      }),
    );
  }

  private tokenPath(pod: DemoPod): string {
    return join(this.stateDir, `${pod.name}.token`);
  }

  private appEnv(pod: DemoPod): Record<string, string> {
    const { topology } = this.options;
    const authorities = pod.upstreams.map((u) => authorityOf(topology, u));
    return {
      DEMO_NAME: pod.name,
      DEMO_ROLE: pod.role,
      DEMO_LISTEN: `${pod.ip}:${pod.appPort}`,
      DEMO_PROXY: `${pod.ip}:${PROXY_PORTS.OUTBOUND}`,
      DEMO_UPSTREAMS: authorities.join(","),
      DEMO_FAILURE_RATE: String(pod.failureRate),
      ...(pod.failurePath && { DEMO_FAILURE_PATH: pod.failurePath }),
      DEMO_RPS: "10",
    };
  }

  private spawn(
    tier: Tier,
    name: string,
    path: string,
    args: string[],
    env: Record<string, string> = {},
  ): Child {
    const child = new Child({
      name,
      command: process.execPath,
      args: [...(tier === Tier.Proxy ? PROXY_NODE_FLAGS : []), path, ...args],
      env: { TRELLIS_LOG: "info", ...env },
      echoStderr: this.options.verbose,
    });
    this.tiers[tier]?.push(child);
    return child;
  }

  /** Every process of the mesh. */
  processes(): Child[] {
    return this.tiers.flat();
  }

  /** Stops every process, apps first and the control plane last, and removes the state. */
  async stop(): Promise<void> {
    if (this.tokenTimer) clearInterval(this.tokenTimer);
    for (const tier of [...this.tiers].reverse()) await Promise.all(tier.map((c) => c.stop()));
    if (this.stateDir) await rm(this.stateDir, { recursive: true, force: true });
  }
}
