/**
 * The identity service's test harness: a mesh PKI written to files, a local token key, the real service
 * started in process on 127.0.0.1 (port 0), and a real grpc-js client dialing it over TLS, verifying
 * the chain against the anchor and recording the SPIFFE ID the server presented.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  type CertifyResponse,
  IdentityClient as IdentityRpcClient,
} from "../../../control/api/gen/trellis/identity/v1/identity.js";
import type { TokenVerifier } from "../../../control/common/token-verifier.js";
import type { IssuerFiles } from "../../../control/identity/issuer-store.js";
import { type RunningIdentityService, startIdentityService } from "../../../control/identity/server.js";
import { createLocalTokenKey, LocalTokenVerifier, mintLocalToken } from "../../../control/local/tokens.js";
import { uriSans } from "../../../lib/spiffe.js";
import { type MeshPki, makeMeshPki } from "../../support/pki.js";

export { memoryLogger } from "../../support/log.js";

export const SERVICE_ID = "spiffe://cluster.local/ns/trellis/sa/trellis-identity";

/** A temp dir removed when the test ends. */
export async function tempDir(t: TestContext, prefix = "trellis-identity-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file the way an atomic writer does: a new file renamed over the old one. */
export async function replaceFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/**
 * The CA files as a Kubernetes Secret volume lays them out: `ca.crt` → `..data/ca.crt`, `..data` → a
 * timestamped dir. swap() writes a new timestamped dir and renames a new `..data` link over the old one.
 */
export async function secretVolume(
  dir: string,
  files: Record<"ca.crt" | "tls.crt" | "tls.key", string>,
): Promise<{
  paths: IssuerFiles;
  swap(files: Record<"ca.crt" | "tls.crt" | "tls.key", string>): Promise<void>;
}> {
  let n = 0;
  const swap = async (contents: Record<string, string>) => {
    const ts = `..2026_${n++}`;
    await mkdir(join(dir, ts));
    for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, ts, name), text);
    await symlink(ts, join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
  };
  await swap(files);
  for (const name of ["ca.crt", "tls.crt", "tls.key"]) await symlink(join("..data", name), join(dir, name));
  return {
    paths: {
      trustAnchors: join(dir, "ca.crt"),
      issuerCertificate: join(dir, "tls.crt"),
      issuerKey: join(dir, "tls.key"),
    },
    swap,
  };
}

export interface Harness {
  pki: MeshPki;
  files: IssuerFiles;
  dir: string;
  service: RunningIdentityService;
  /** A token proving system:serviceaccount:<ns>:<sa>. */
  token(namespace: string, serviceAccount: string, ttlSeconds?: number): Promise<Buffer>;
  tokenKey: { privateKeyPem: string; publicKeyPem: string };
}

export interface HarnessOptions {
  lifetimeMs?: number;
  verifier?: TokenVerifier;
  files?: IssuerFiles;
  pki?: MeshPki;
  log?: Logger;
}

/** Starts the real identity service in process, with the local token verifier unless told otherwise. */
export async function startHarness(t: TestContext, options: HarnessOptions = {}): Promise<Harness> {
  const dir = await tempDir(t);
  const pki = options.pki ?? (await makeMeshPki());
  const files = options.files ?? (await filesOf(pki, dir));
  const tokenKey = await createLocalTokenKey();
  const service = await startIdentityService({
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    trustDomain: "cluster.local",
    files,
    lifetimeMs: options.lifetimeMs ?? 3_600_000,
    clockSkewMs: 20_000,
    verifier: options.verifier ?? (await LocalTokenVerifier.fromPublicKeyPem(tokenKey.publicKeyPem)),
    serviceIdentity: SERVICE_ID,
    reloadDebounceMs: 20,
    reloadPollIntervalMs: 1_000,
    ...(options.log && { log: options.log }),
  });
  t.after(() => service.shutdown(1_000));
  return {
    pki,
    files,
    dir,
    service,
    tokenKey,
    token: async (namespace, serviceAccount, ttlSeconds = 600) =>
      Buffer.from(await mintLocalToken(tokenKey.privateKeyPem, { namespace, serviceAccount, ttlSeconds })),
  };
}

async function filesOf(pki: MeshPki, dir: string): Promise<IssuerFiles> {
  const written = await pki.writeFiles(dir);
  return {
    trustAnchors: written.trustAnchors,
    issuerCertificate: written.issuerCert,
    issuerKey: written.issuerKey,
  };
}

/** The outcome of one Certify call, with the SPIFFE ID the server presented in its TLS handshake. */
export interface CallResult {
  code: grpc.status;
  details: string;
  response?: CertifyResponse;
  serverIds: string[];
  /** The server's leaf, DER, as presented in the handshake. */
  serverCertDer?: Buffer;
  /** The issuer the server sent with its leaf. */
  serverIssuerDer?: Buffer;
}

/** One Certify call over a fresh TLS connection that trusts only the anchor. */
export function certify(
  addr: string,
  anchorPem: string,
  request: { identity: string; token: Buffer; certificateSigningRequest: Uint8Array },
  timeoutMs = 10_000,
): Promise<CallResult> {
  let serverIds: string[] = [];
  let serverCertDer: Buffer | undefined;
  let serverIssuerDer: Buffer | undefined;
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    serverIds = uriSans(cert.subjectaltname);
    serverCertDer = cert.raw;
    const issuer = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
    serverIssuerDer = issuer?.raw;
    return serverIds.length === 1 && serverIds[0] === SERVICE_ID
      ? undefined
      : new Error(`server is ${serverIds}`);
  };
  const client = new IdentityRpcClient(
    addr,
    grpc.credentials.createSsl(Buffer.from(anchorPem), null, null, { checkServerIdentity }),
    { "grpc.ssl_target_name_override": "identity.trellis.test" },
  );
  return new Promise((resolve) => {
    client.certify(
      {
        identity: request.identity,
        token: request.token,
        certificateSigningRequest: Buffer.from(request.certificateSigningRequest),
      },
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, response) => {
        client.close();
        const base = {
          serverIds,
          ...(serverCertDer && { serverCertDer }),
          ...(serverIssuerDer && { serverIssuerDer }),
        };
        if (err) resolve({ code: err.code, details: err.details, ...base });
        else resolve({ code: grpc.status.OK, details: "", response, ...base });
      },
    );
  });
}

/** Fetches a path from the admin server. */
export async function adminGet(admin: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${admin}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** The value of a sample in Prometheus text, 0 when absent. */
export function sample(metrics: string, name: string, labels = ""): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

/** Resolves once the predicate holds for an event the subscribe function delivers; rejects after timeoutMs. */
export function nextEvent<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  pred: (value: T) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = subscribe((value) => {
      if (!pred(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}
