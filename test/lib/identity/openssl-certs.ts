/**
 * Certificates made by openssl, not by our own encoder, so the DER reader is held to what another
 * implementation writes. Each is a self-signed ECDSA P-256 certificate whose only differences are the
 * `-addext` extensions; an empty config keeps openssl's default v3_ca extensions out.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** `openssl req -x509` with the given `-addext` values; none at all gives a v1 certificate. */
export async function opensslCert(...addext: string[]): Promise<X509Certificate> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-der-"));
  try {
    await writeFile(join(dir, "empty.cnf"), "");
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    args.push("-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=der.test", "-days", "1");
    args.push("-config", "empty.cnf", ...addext.flatMap((e) => ["-addext", e]));
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    return new X509Certificate(await readFile(join(dir, "cert.pem")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
