/**
 * etcd → kube-apiserver → kube-controller-manager on free 127.0.0.1 ports, with the flags envtest
 * uses plus what the mesh needs: RBAC, a client CA with an admin in system:masters, service-account
 * issuer and keys (TokenRequest/TokenReview), no endpoint reconciler (its loopback address would be an
 * invalid endpoint), and only the controllers that work without kubelets.
 */
import { writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { Binaries } from "../build/paths.js";
import type { ClusterPki } from "./pki.js";
import { freePorts, type Proc, startProc, waitUntil } from "./procs.js";

/** The controllers kube-controller-manager runs. No node-lifecycle, taint-eviction or pod GC: without
 * kubelets they would mark the node unreachable and evict or delete its pods. */
export const CONTROLLERS = [
  "endpointslice-controller",
  "endpointslice-mirroring-controller",
  "endpoints-controller",
  "namespace-controller",
  "garbage-collector-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "root-ca-certificate-publisher-controller",
  // Deployments (what `meshctl install` creates) become ReplicaSets, then Pods for the node stand-in.
  "deployment-controller",
  "replicaset-controller",
  // A Job completes once its pod ends Succeeded, which the node stand-in reports (a meshed Job too,
  // its proxy a native sidecar stopped after the app).
  "job-controller",
  "clusterrole-aggregation-controller",
];

/** The service-account token issuer; also the default audience of tokens without one. */
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

export interface ControlPlaneOptions {
  bin: Binaries;
  /** Holds certificates, etcd's data and the logs. */
  dir: string;
  pki: ClusterPki;
  /** --service-cluster-ip-range. */
  serviceCidr: string;
  /** Bounded wait for each component; default 90 s (a loaded 2-core machine is slow). */
  startTimeoutMs?: number;
  /** Keep the processes when this Node.js process exits (for `cluster:up`). */
  keepOnExit?: boolean;
}

export interface ControlPlane {
  apiserverUrl: string;
  apiserverPort: number;
  procs: Proc[];
  /** Writes a kubeconfig for the admin at `path`. */
  files: { ca: string; adminCert: string; adminKey: string };
  /** Starts kube-controller-manager (after the harness registered its Node). */
  startControllerManager(kubeconfigPath: string): Promise<Proc>;
  /** Stops everything in reverse order. */
  stop(): Promise<void>;
}

function get(url: string, ca: string, cert?: string, key?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, cert, key, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.ok;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { bin, dir, pki } = opts;
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const keepOnExit = Boolean(opts.keepOnExit);
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const files = {
    ca: file("ca.crt", pki.ca.certPem),
    apiserverCert: file("apiserver.crt", pki.apiserver.certPem),
    apiserverKey: file("apiserver.key", pki.apiserver.keyPem),
    adminCert: file("admin.crt", pki.admin.certPem),
    adminKey: file("admin.key", pki.admin.keyPem),
    saKey: file("sa.key", pki.serviceAccount.key),
    saPub: file("sa.pub", pki.serviceAccount.pub),
  };
  const [etcdPort, etcdPeerPort, apiPort, kcmPort] = (await freePorts(4)) as [number, number, number, number];
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
  };
  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = startProc(
      "etcd",
      bin.etcd,
      [
        "--name=testbed",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=testbed=${peerUrl}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ],
      { logPath: join(dir, "etcd.log"), keepOnExit },
    );
    procs.push(etcd);
    await waitUntil("etcd", () => httpOk(`${etcdUrl}/health`), { timeoutMs, proc: etcd });

    const apiserverUrl = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProc(
      "kube-apiserver",
      bin.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        `--tls-cert-file=${files.apiserverCert}`,
        `--tls-private-key-file=${files.apiserverKey}`,
        `--client-ca-file=${files.ca}`,
        "--authorization-mode=RBAC",
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${files.saPub}`,
        `--service-account-signing-key-file=${files.saKey}`,
        `--service-cluster-ip-range=${opts.serviceCidr}`,
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=1",
      ],
      { logPath: join(dir, "kube-apiserver.log"), keepOnExit },
    );
    procs.push(apiserver);
    // /readyz, not /healthz: it also waits for the RBAC bootstrap roles.
    await waitUntil(
      "kube-apiserver",
      async () =>
        (await get(`${apiserverUrl}/readyz`, pki.ca.certPem, pki.admin.certPem, pki.admin.keyPem)) === 200,
      { timeoutMs, intervalMs: 500, proc: apiserver },
    );

    return {
      apiserverUrl,
      apiserverPort: apiPort,
      procs,
      files: { ca: files.ca, adminCert: files.adminCert, adminKey: files.adminKey },
      stop,
      async startControllerManager(kubeconfigPath: string) {
        const kcm = startProc(
          "kube-controller-manager",
          bin.kubeControllerManager,
          [
            `--kubeconfig=${kubeconfigPath}`,
            `--authentication-kubeconfig=${kubeconfigPath}`,
            `--authorization-kubeconfig=${kubeconfigPath}`,
            `--controllers=${CONTROLLERS.join(",")}`,
            `--service-account-private-key-file=${files.saKey}`,
            `--root-ca-file=${files.ca}`,
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            `--secure-port=${kcmPort}`,
            // Our CA's 127.0.0.1 certificate, so its /healthz can be checked like the apiserver's.
            `--tls-cert-file=${files.apiserverCert}`,
            `--tls-private-key-file=${files.apiserverKey}`,
            "--kube-api-qps=1000",
            "--kube-api-burst=2000",
            "--v=1",
          ],
          { logPath: join(dir, "kube-controller-manager.log"), keepOnExit },
        );
        procs.push(kcm);
        await waitUntil(
          "kube-controller-manager",
          async () => (await get(`https://127.0.0.1:${kcmPort}/healthz`, pki.ca.certPem)) === 200,
          { timeoutMs, intervalMs: 500, proc: kcm },
        );
        return kcm;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
