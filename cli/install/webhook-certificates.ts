/**
 * The injector webhook's TLS, made by `meshctl install` beside the identity PKI: a serving certificate
 * for `trellis-injector.<namespace>.svc` (the name the API server calls) and the CA that signed it,
 * which goes into the webhook configuration's caBundle. Generated (an ECDSA P-256 CA and certificate
 * valid one year, the CA's key thrown away, as the trust anchor's is) unless the three files are given
 * (`--injector-ca-file`, `--injector-certificate-file`, `--injector-key-file`): then they are checked
 * as the API server will (the certificate names the Service, is valid now, chains to the CA, and the
 * key is its key), before anything is printed, and the same files give the same bytes.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import {
  certificatePem,
  DEFAULT_CLOCK_SKEW_MS,
  generateP256,
  privateKeyPem,
  randomSerial,
  SIGNING_ALGORITHM,
} from "../../control/identity/certs.js";
import * as x509 from "../../lib/x509.js";
import { InputError, UsageError } from "../errors.js";
import { certificateBlocks, readFlagFile } from "./certificates.js";

/** What the webhook's Secret and configuration hold. */
export interface InjectorTls {
  /** The CA certificate(s) of the caBundle, PEM. */
  caPem: string;
  /** The serving certificate, then any intermediates, PEM. */
  certPem: string;
  keyPem: string;
}

export interface InjectorTlsInputs {
  caFile?: string;
  certificateFile?: string;
  keyFile?: string;
  /** `trellis-injector.<namespace>.svc`. */
  serviceName: string;
  /** The clock certificates are made and checked against; now by default. */
  now?: Date;
}

export const INJECTOR_TLS_LIFETIME_MS = 365 * 24 * 3600_000;

const FLAGS = {
  caFile: "--injector-ca-file",
  certificateFile: "--injector-certificate-file",
  keyFile: "--injector-key-file",
} as const;
type FileFlag = keyof typeof FLAGS;

/**
 * The webhook's TLS: generated, or read from the three files and checked. Throws UsageError when the
 * flags do not go together (exit 2) and InputError when a file is unreadable or unfit (exit 1).
 */
export async function injectorTls(inputs: InjectorTlsInputs): Promise<InjectorTls> {
  const keys = Object.keys(FLAGS) as FileFlag[];
  const given = keys.filter((k) => inputs[k] !== undefined);
  if (given.length === 0)
    return generateInjectorTls(inputs.serviceName, inputs.now ? { now: inputs.now } : {});
  if (given.length < 3)
    throw new UsageError(
      `${keys
        .filter((k) => inputs[k] === undefined)
        .map((k) => FLAGS[k])
        .join(
          " and ",
        )} missing: give --injector-ca-file, --injector-certificate-file and --injector-key-file together, or none to generate them`,
    );
  const paths = inputs as Required<Pick<InjectorTlsInputs, FileFlag>>;
  const named = (k: FileFlag) => `${FLAGS[k]} ${paths[k]}`;
  const [caText, certText, keyText] = await Promise.all(keys.map((k) => readFlagFile(FLAGS[k], paths[k])));
  const ca = parseAll(caText as string, named("caFile"));
  const chain = parseAll(certText as string, named("certificateFile"));
  const cert = chain[0] as X509Certificate;
  const where = named("certificateFile");
  if (cert.ca)
    throw new InputError(`${where}: the certificate is a CA; give the webhook's serving certificate`);
  const now = (inputs.now ?? new Date()).getTime();
  if (now < Date.parse(cert.validFrom) || now >= Date.parse(cert.validTo))
    throw new InputError(
      `${where}: the certificate is valid from ${cert.validFrom} to ${cert.validTo}, not now; issue a new one`,
    );
  const names = (cert.subjectAltName ?? "").split(", ").filter((n) => n.startsWith("DNS:"));
  if (!names.includes(`DNS:${inputs.serviceName}`))
    throw new InputError(
      `${where}: the certificate names ${names.length > 0 ? names.map((n) => n.slice(4)).join(", ") : "no DNS name"}, not ${inputs.serviceName}, the name the API server calls; issue it for that DNS name`,
    );
  if (!chainsTo(chain, ca))
    throw new InputError(
      `${where}: the certificate (issued by ${cert.issuer.replace(/\n/g, ", ")}) does not chain to a certificate of ${named("caFile")}; give the CA that signed it`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText as string);
  } catch (err) {
    throw new InputError(`${named("keyFile")} is not a PEM private key (${(err as Error).message})`);
  }
  if (!matches(key, cert))
    throw new InputError(`${named("keyFile")} is not the key of the certificate in ${where}`);
  return {
    caPem: certificateBlocks(caText as string).join(""),
    certPem: certificateBlocks(certText as string).join(""),
    keyPem: `${(keyText as string).trim()}\n`,
  };
}

/** A private key matches a certificate when its public half is the certificate's. */
function matches(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function parseAll(pem: string, name: string): X509Certificate[] {
  const blocks = certificateBlocks(pem);
  if (blocks.length === 0)
    throw new InputError(`${name} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); check the file`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new InputError(`${name}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
}

/** Whether the chain (the certificate, then intermediates) ends at a certificate of `roots`, every link signed. */
function chainsTo(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  let cert = chain[0];
  const pool = chain.slice(1);
  for (let depth = 0; cert && depth <= chain.length; depth++) {
    const current: X509Certificate = cert;
    if (
      roots.some((r) => r.raw.equals(current.raw) || (current.checkIssued(r) && current.verify(r.publicKey)))
    )
      return true;
    cert = pool.find((p) => current.checkIssued(p) && current.verify(p.publicKey));
  }
  return false;
}

/** A fresh CA and a serving certificate for `serviceName` it signed, one year by default; the CA's key is dropped. */
export async function generateInjectorTls(
  serviceName: string,
  options: { now?: Date; lifetimeMs?: number } = {},
): Promise<InjectorTls> {
  const now = (options.now ?? new Date()).getTime();
  const notBefore = new Date(now - DEFAULT_CLOCK_SKEW_MS);
  const notAfter = new Date(now + (options.lifetimeMs ?? INJECTOR_TLS_LIFETIME_MS));
  const caKeys = await generateP256();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=webhook-ca.${serviceName}`,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${serviceName}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: serviceName }]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    caPem: certificatePem(ca),
    certPem: certificatePem(cert),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}
