/**
 * The identity PKI `meshctl install` puts in the cluster: the trust anchors and the issuer certificate
 * and key. Generated (an ECDSA P-256 anchor valid 10 years, an issuer valid 1 year, the anchor's key
 * thrown away) unless the three files are given; given files are validated as the identity service
 * will load them, before anything is printed, with one error naming the flag, the file and the fault.
 * With `--identity-external-issuer` the issuer Secret belongs to someone else (cert-manager) and is
 * not rendered: install reads it from the cluster instead, validates it the same way, and takes the
 * anchors from its `ca.crt` unless `--identity-trust-anchors-file` gives them.
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { CertificateAuthority, createIssuer, createTrustAnchor } from "../../control/identity/ca.js";
import { InputError, UsageError } from "../errors.js";

/** The identity PEMs to render. */
export interface IdentityPki {
  /** One or more CA certificates, PEM, each block ending in a newline. */
  trustAnchorsPem: string;
  /** The issuer's certificate (then any intermediates) and key; absent with an external issuer. */
  issuer?: { certPem: string; keyPem: string };
}

/** The issuer Secret an external issuer keeps in the cluster, its keys decoded (absent ones undefined). */
export interface IssuerSecret {
  /** How errors name it: `Secret <ns>/<name>`. */
  name: string;
  crtPem?: string;
  keyPem?: string;
  caPem?: string;
}

/** The three identity flags (paths as given) and whether the issuer is external. */
export interface IdentityInputs {
  trustAnchorsFile?: string;
  issuerCertificateFile?: string;
  issuerKeyFile?: string;
  externalIssuer: boolean;
  /** Reads the external issuer's Secret; asked only with externalIssuer, after the flags are checked. */
  readIssuerSecret?: () => Promise<IssuerSecret>;
  trustDomain: string;
  /** The clock certificates are checked against; now by default. */
  now?: Date;
}

const FLAGS = {
  trustAnchorsFile: "--identity-trust-anchors-file",
  issuerCertificateFile: "--identity-issuer-certificate-file",
  issuerKeyFile: "--identity-issuer-key-file",
} as const;
type FileFlag = keyof typeof FLAGS;

/**
 * The PKI to render: generated, or read from the given files and validated. Throws UsageError when the
 * flags do not go together (exit 2) and InputError when a file is missing or unusable (exit 1).
 */
export async function identityPki(inputs: IdentityInputs): Promise<IdentityPki> {
  const given = (Object.keys(FLAGS) as FileFlag[]).filter((k) => inputs[k] !== undefined);
  if (inputs.externalIssuer) {
    const extra = given.filter((k) => k !== "trustAnchorsFile");
    if (extra.length > 0)
      throw new UsageError(
        `${extra.map((k) => FLAGS[k]).join(" and ")} cannot be combined with --identity-external-issuer: the issuer comes from the Secret trellis-identity-issuer`,
      );
    if (!inputs.readIssuerSecret) throw new Error("an external issuer needs a way to read its Secret");
    return externalPki(inputs, inputs.readIssuerSecret);
  }
  if (given.length === 0) return generate(inputs.trustDomain);
  if (given.length < 3) {
    const missing = (Object.keys(FLAGS) as FileFlag[]).filter((k) => inputs[k] === undefined);
    throw new UsageError(
      `${missing.map((k) => FLAGS[k]).join(" and ")} missing: give --identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file together, or none to generate them`,
    );
  }
  const paths = inputs as Required<Pick<IdentityInputs, FileFlag>>;
  const [anchors, cert, key] = [
    await readInput("trustAnchorsFile", paths.trustAnchorsFile),
    await readInput("issuerCertificateFile", paths.issuerCertificateFile),
    await readInput("issuerKeyFile", paths.issuerKeyFile),
  ];
  const names = {
    trustAnchors: named("trustAnchorsFile", paths.trustAnchorsFile),
    issuerCertificate: named("issuerCertificateFile", paths.issuerCertificateFile),
    issuerKey: named("issuerKeyFile", paths.issuerKeyFile),
  };
  checkIssuerAlgorithm(cert, names.issuerCertificate);
  // The same validation the identity service runs when it loads these files.
  const loaded = await CertificateAuthority.tryLoad({
    trustAnchorsPem: anchors,
    issuerCertPem: cert,
    issuerKeyPem: key,
    names,
    ...(inputs.now ? { now: inputs.now } : {}),
  });
  if (!loaded.ok) throw new InputError(loaded.reason);
  return {
    trustAnchorsPem: certificateBlocks(anchors).join(""),
    issuer: { certPem: certificateBlocks(cert).join(""), keyPem: `${key.trim()}\n` },
  };
}

/**
 * An external issuer: its Secret read from the cluster and validated as the identity service will load
 * it, against the anchors of the file given or else of the Secret's `ca.crt`. Only the anchors are
 * rendered.
 */
async function externalPki(inputs: IdentityInputs, read: () => Promise<IssuerSecret>): Promise<IdentityPki> {
  const anchorsPem = inputs.trustAnchorsFile
    ? await readInput("trustAnchorsFile", inputs.trustAnchorsFile)
    : undefined;
  const secret = await read();
  const anchorsName = inputs.trustAnchorsFile
    ? named("trustAnchorsFile", inputs.trustAnchorsFile)
    : `${secret.name} ca.crt`;
  const anchors = anchorsPem ?? secret.caPem;
  if (anchors === undefined)
    throw new InputError(
      `${secret.name} has no ca.crt: give the anchors that signed its issuer with --identity-trust-anchors-file`,
    );
  const trustAnchorsPem = checkAnchors(anchors, anchorsName, inputs.now);
  for (const [key, value] of [
    ["tls.crt", secret.crtPem],
    ["tls.key", secret.keyPem],
  ] as const)
    if (value === undefined)
      throw new InputError(
        `${secret.name} has no ${key}: an external issuer's Secret is of type kubernetes.io/tls with tls.crt and tls.key`,
      );
  const names = {
    trustAnchors: anchorsName,
    issuerCertificate: `${secret.name} tls.crt`,
    issuerKey: `${secret.name} tls.key`,
  };
  checkIssuerAlgorithm(secret.crtPem as string, names.issuerCertificate);
  const loaded = await CertificateAuthority.tryLoad({
    trustAnchorsPem,
    issuerCertPem: secret.crtPem as string,
    issuerKeyPem: secret.keyPem as string,
    names,
    ...(inputs.now ? { now: inputs.now } : {}),
  });
  if (!loaded.ok) throw new InputError(loaded.reason);
  return { trustAnchorsPem };
}

async function generate(trustDomain: string): Promise<IdentityPki> {
  const anchor = await createTrustAnchor({ trustDomain });
  const issuer = await createIssuer(anchor, { trustDomain });
  return { trustAnchorsPem: anchor.certPem, issuer };
}

function named(flag: FileFlag, path: string): string {
  return `${FLAGS[flag]} ${path}`;
}

async function readInput(flag: FileFlag, path: string): Promise<string> {
  return readFlagFile(FLAGS[flag], path);
}

/** The text of the file a flag names; InputError naming the flag and the path when it cannot be read. */
export async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "a directory" : e.message;
    throw new InputError(`${flag} ${path}: cannot read it (${why}); check the path`);
  }
}

/** Each PEM certificate block of the text, with one trailing newline. */
export function certificateBlocks(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => `${b}\n`,
  );
}

/** The issuer must be ECDSA P-256 (all the mesh CA signs with); said plainly before anything else. */
function checkIssuerAlgorithm(pem: string, name: string): void {
  const first = certificateBlocks(pem)[0];
  if (!first) return; // the CA's own check names what is missing
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch {
    return; // likewise
  }
  const key = cert.publicKey;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === "ec" && curve === "prime256v1") return;
  const what =
    key.asymmetricKeyType === "ec"
      ? `ECDSA ${curve === "secp384r1" ? "P-384" : curve === "secp521r1" ? "P-521" : (curve ?? "")}`
      : key.asymmetricKeyType === "rsa"
        ? `RSA ${key.asymmetricKeyDetails?.modulusLength ?? ""}-bit`
        : (key.asymmetricKeyType ?? "unknown");
  throw new InputError(
    `${name}: the issuer's key is ${what}; the mesh CA signs with ECDSA P-256 only, so issue an ECDSA P-256 issuer`,
  );
}

/** Anchors alone (an external issuer): each a CA and valid now. Returns them normalised. */
function checkAnchors(pem: string, name: string, now = new Date()): string {
  const blocks = certificateBlocks(pem);
  if (blocks.length === 0)
    throw new InputError(`${name} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); check the file`);
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new InputError(`${name}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
    if (!cert.ca)
      throw new InputError(`${name}: certificate ${i + 1} is not a CA; give the root certificate(s)`);
    const t = now.getTime();
    if (t < Date.parse(cert.validFrom) || t >= Date.parse(cert.validTo))
      throw new InputError(
        `${name}: certificate ${i + 1} is valid from ${cert.validFrom} to ${cert.validTo}, not now; rotate the trust anchor`,
      );
  }
  return blocks.join("");
}
