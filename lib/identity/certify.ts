/**
 * One Certify attempt: read the token, dial the identity service over TLS (verifying its certificate
 * chains to the trust anchors and names the expected SPIFFE ID), send the CSR, check the answer. A new
 * gRPC client per attempt, as the attempts are hours apart and a fresh dial picks up a moved service.
 */
import type { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { IdentityClient as IdentityRpcClient } from "../../control/api/gen/trellis/identity/v1/identity.js";
import { parseSpiffeId, uriSans } from "../spiffe.js";
import type { Credentials } from "./credentials.js";
import { type CertifyFailure, failure } from "./errors.js";
import type { KeyMaterial } from "./keys.js";
import { verifyIssued } from "./verify.js";

/** Where and how to certify. */
export interface CertifyTarget {
  /** Our SPIFFE ID. */
  identity: string;
  /** PEM of the trust anchors, for the service's certificate and for the returned chain. */
  trustAnchorsPem: string;
  /** Parsed trust anchors. */
  anchors: readonly X509Certificate[];
  /** Read on every attempt: the kubelet rotates projected tokens in place. */
  tokenFile: string;
  /** host:port of the identity service. */
  svcAddr: string;
  /** The SPIFFE ID the identity service's certificate must carry. */
  svcName: string;
  /** Deadline of the call, from the start of the dial. */
  timeoutMs: number;
}

export type CertifyResult = { ok: true; credentials: Credentials } | { ok: false; error: CertifyFailure };

/** An attempt in flight; cancel() ends it (its result becomes an RPC failure) and releases the channel. */
export interface CertifyAttempt {
  readonly result: Promise<CertifyResult>;
  cancel(): void;
}

/** Starts one Certify attempt for the given key. Never throws; every failure is in the result. */
export function certify(target: CertifyTarget, key: KeyMaterial): CertifyAttempt {
  let cancelled = false;
  let cancelCall = (): void => {};
  const result = (async (): Promise<CertifyResult> => {
    const token = await readToken(target.tokenFile);
    if (!token.ok) return token;
    if (cancelled) return { ok: false, error: failure("TRELLIS_E_IDENTITY_CLIENT_RPC", "cancelled") };
    const call = callCertify(target, key, token.token);
    cancelCall = call.cancel;
    return call.result;
  })();
  return {
    result,
    cancel: () => {
      cancelled = true;
      cancelCall();
    },
  };
}

async function readToken(
  path: string,
): Promise<{ ok: true; token: Buffer } | { ok: false; error: CertifyFailure }> {
  try {
    // A trailing newline is an artefact of how the file was written, never part of a JWT.
    const token = Buffer.from((await readFile(path, "utf8")).trim());
    if (token.length === 0)
      return { ok: false, error: failure("TRELLIS_E_IDENTITY_CLIENT_TOKEN", `${path} is empty`) };
    return { ok: true, token };
  } catch (err) {
    return {
      ok: false,
      error: failure("TRELLIS_E_IDENTITY_CLIENT_TOKEN", `${path}: ${(err as Error).message}`),
    };
  }
}

function callCertify(target: CertifyTarget, key: KeyMaterial, token: Buffer): CertifyAttempt {
  // grpc-js hands checkServerIdentity straight to tls.connect, where it replaces the hostname check:
  // the SPIFFE ID is the only name that matters, so compare it and nothing else.
  let identityProblem: string | undefined;
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = uriSans(cert.subjectaltname);
    if (uris.length === 1 && uris[0] === target.svcName) return undefined;
    identityProblem = `expected ${target.svcName}, found ${uris.length === 0 ? "no URI SAN" : uris.join(", ")}`;
    return new Error(identityProblem);
  };
  const credentials = grpc.credentials.createSsl(Buffer.from(target.trustAnchorsPem), null, null, {
    checkServerIdentity,
  });
  const options: grpc.ClientOptions = { "grpc.max_receive_message_length": 256 * 1024 };
  // SNI may not carry an IP address; when dialing one, send a DNS form of the service's identity.
  const host = hostOf(target.svcAddr);
  if (isIP(host) !== 0) options["grpc.ssl_target_name_override"] = sniFor(target.svcName);
  const client = new IdentityRpcClient(target.svcAddr, credentials, options);

  let call: grpc.ClientUnaryCall | undefined;
  const result = new Promise<CertifyResult>((resolve) => {
    const request = { identity: target.identity, token, certificateSigningRequest: key.csrDer };
    call = client.certify(
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + target.timeoutMs },
      (err, response) => {
        client.close();
        if (identityProblem !== undefined) {
          resolve({
            ok: false,
            error: failure("TRELLIS_E_IDENTITY_CLIENT_SERVER_IDENTITY", identityProblem),
          });
        } else if (err) {
          const status = grpc.status[err.code] ?? String(err.code);
          const detail = `${target.svcAddr}: ${status}: ${err.details || err.message}`;
          resolve({ ok: false, error: failure("TRELLIS_E_IDENTITY_CLIENT_RPC", detail, err.code) });
        } else {
          resolve(
            verifyIssued({
              identity: target.identity,
              publicKeySpki: key.publicKeySpki,
              keyPem: key.keyPem,
              leafDer: response.leafCertificate,
              intermediatesDer: response.intermediateCertificates,
              anchors: target.anchors,
              now: new Date(),
            }),
          );
        }
      },
    );
  });
  return {
    result,
    cancel: () => {
      call?.cancel();
      client.close();
    },
  };
}

function hostOf(addr: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(addr);
  if (bracketed) return bracketed[1] ?? "";
  const i = addr.lastIndexOf(":");
  return i < 0 ? addr : addr.slice(0, i);
}

/** `spiffe://td/ns/N/sa/S` → `S.N.serviceaccount.identity.td`, the Linkerd-style DNS form. */
function sniFor(svcName: string): string {
  const id = parseSpiffeId(svcName);
  return id ? `${id.serviceAccount}.${id.namespace}.serviceaccount.identity.${id.trustDomain}` : "identity";
}
