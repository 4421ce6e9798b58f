/**
 * ServiceAccount tokens for the local mesh, where there is no API server to issue and review them: the
 * mesh holds an ES256 key, mints short-lived JWTs shaped like Kubernetes' projected tokens (audience
 * identity.trellis.dev, sub system:serviceaccount:<ns>:<sa>), and the identity service checks them with
 * the public key. The checks are real: signature, algorithm, issuer, audience, expiry, subject.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, jwtVerify, SignJWT } from "jose";
import { IDENTITY_TOKEN_AUDIENCE, serviceAccountUsername } from "../../lib/spiffe.js";
import {
  parseServiceAccountUsername,
  type TokenVerdict,
  type TokenVerifier,
} from "../common/token-verifier.js";

/** The `iss` of every local token. */
export const LOCAL_TOKEN_ISSUER = "trellis-local";
const ALG = "ES256";
// Tokens are at most this long; anything larger is refused before any parsing.
const MAX_TOKEN_BYTES = 8 * 1024;

export interface LocalTokenKey {
  /** PKCS#8 PEM; stays with whoever mints tokens. */
  privateKeyPem: string;
  /** SPKI PEM; given to the identity service (--local-token-public-key-file). */
  publicKeyPem: string;
}

export interface MintOptions {
  namespace: string;
  serviceAccount: string;
  ttlSeconds: number;
}

/** A fresh ES256 (ECDSA P-256) key pair for minting local tokens. */
export async function createLocalTokenKey(): Promise<LocalTokenKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  return { privateKeyPem: await exportPKCS8(privateKey), publicKeyPem: await exportSPKI(publicKey) };
}

/** A signed token proving `system:serviceaccount:<namespace>:<serviceAccount>` for ttlSeconds. */
export async function mintLocalToken(privateKeyPem: string, options: MintOptions): Promise<string> {
  if (!Number.isFinite(options.ttlSeconds) || options.ttlSeconds <= 0)
    throw new Error(`ttlSeconds must be above 0, got ${options.ttlSeconds}`);
  const key = await importPKCS8(privateKeyPem, ALG);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setIssuer(LOCAL_TOKEN_ISSUER)
    .setAudience(IDENTITY_TOKEN_AUDIENCE)
    .setSubject(serviceAccountUsername(options.namespace, options.serviceAccount))
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(options.ttlSeconds))
    .sign(key);
}

/** Verifies local tokens with the mesh's ES256 public key. */
export class LocalTokenVerifier implements TokenVerifier {
  private readonly key: KeyObject;

  /** Throws (naming the problem) when the PEM is not an EC P-256 public key. */
  constructor(publicKeyPem: string) {
    // createPublicKey would also take a certificate or a private key; only a public key is meant here.
    if (!/^\s*-----BEGIN PUBLIC KEY-----/.test(publicKeyPem))
      throw new Error('expected a PEM public key ("-----BEGIN PUBLIC KEY-----")');
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
      throw new Error(`expected an EC P-256 public key, got ${key.asymmetricKeyType}`);
    this.key = key;
  }

  /** As the constructor, for callers that prefer a promise. */
  static async fromPublicKeyPem(publicKeyPem: string): Promise<LocalTokenVerifier> {
    return new LocalTokenVerifier(publicKeyPem);
  }

  async verify(token: string): Promise<TokenVerdict> {
    if (token.length === 0 || token.length > MAX_TOKEN_BYTES)
      return { ok: false, reason: `the token is ${token.length} bytes; expected a JWT` };
    let sub: string | undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        issuer: LOCAL_TOKEN_ISSUER,
        audience: IDENTITY_TOKEN_AUDIENCE,
        requiredClaims: ["exp", "iat", "sub"],
      });
      sub = payload.sub;
    } catch (err) {
      return { ok: false, reason: `local token: ${(err as Error).message}` };
    }
    const sa = parseServiceAccountUsername(sub);
    if (!sa) return { ok: false, reason: `local token: sub "${sub}" is not system:serviceaccount:<ns>:<sa>` };
    return { ok: true, ...sa };
  }
}
