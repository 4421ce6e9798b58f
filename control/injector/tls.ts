/**
 * The webhook's serving certificate, kept in step with its files (a `kubernetes.io/tls` Secret
 * mounted into the pod): read and checked at start (a failure there ends the process, naming the
 * file), then watched; a valid new pair is served from the next connection on, an invalid one is
 * refused with a log line and the previous pair stays.
 *
 *   serving ──files change──► checking ──valid──► serving (new pair, listeners told)
 *                                    └──invalid──► serving (previous pair kept, refusal logged)
 */
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { coalesced } from "../../lib/coalesce.js";
import type { Logger } from "../../lib/log.js";
import { watchFiles } from "../common/file-watch.js";
import { describe, InjectorError, type Refusal, refuse } from "./errors.js";

/** Where the certificate (then any intermediates) and its key are. */
export interface ServingFiles {
  cert: string;
  key: string;
}

/** A checked pair. */
export interface ServingPair {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  subject: string;
}

/** Reads and checks the pair: the certificate parses, the key parses and is the certificate's. */
export async function loadServingPair(
  files: ServingFiles,
): Promise<{ ok: true; pair: ServingPair } | Refusal> {
  const read = async (path: string, flag: string) => {
    try {
      return { ok: true as const, text: await readFile(path, "utf8") };
    } catch (err) {
      return refuse("TRELLIS_E_INJECTOR_TLS", `${flag} ${path}: ${(err as Error).message}`);
    }
  };
  const [cert, key] = await Promise.all([
    read(files.cert, "--tls-cert-file"),
    read(files.key, "--tls-key-file"),
  ]);
  if (!cert.ok) return cert;
  if (!key.ok) return key;
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(cert.text)?.[0];
  if (!first)
    return refuse("TRELLIS_E_INJECTOR_TLS", `--tls-cert-file ${files.cert} holds no PEM certificate`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(first);
  } catch (err) {
    return refuse("TRELLIS_E_INJECTOR_TLS", `--tls-cert-file ${files.cert}: ${(err as Error).message}`);
  }
  try {
    // What the TLS server will do with them: fails on a key that is not the certificate's.
    createSecureContext({ cert: cert.text, key: key.text });
  } catch (err) {
    return refuse(
      "TRELLIS_E_INJECTOR_TLS",
      `--tls-key-file ${files.key} with --tls-cert-file ${files.cert}: ${(err as Error).message}`,
    );
  }
  return {
    ok: true,
    pair: {
      certPem: cert.text,
      keyPem: key.text,
      notAfter: new Date(x509.validTo),
      subject: x509.subject.replace(/\n/g, ", "),
    },
  };
}

export interface ServingCertificateOptions {
  files: ServingFiles;
  log: Logger;
  debounceMs?: number;
  pollIntervalMs?: number;
}

export class ServingCertificate {
  private readonly listeners = new Set<(applied: boolean) => void>();
  private stopWatching: () => void = () => {};
  private stopped = false;
  private lastSeen: string;

  private constructor(
    private readonly options: ServingCertificateOptions,
    private pair: ServingPair,
  ) {
    this.lastSeen = fingerprint(pair.certPem, pair.keyPem);
  }

  /** Loads the pair and watches the files; throws InjectorError naming the file when unusable. */
  static async open(options: ServingCertificateOptions): Promise<ServingCertificate> {
    const loaded = await loadServingPair(options.files);
    if (!loaded.ok) throw new InjectorError(loaded.code, loaded.reason);
    const serving = new ServingCertificate(options, loaded.pair);
    serving.stopWatching = watchFiles([options.files.cert, options.files.key], () => void serving.reload(), {
      log: options.log,
      ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    });
    return serving;
  }

  /** The pair to serve now. */
  current(): ServingPair {
    return this.pair;
  }

  /** Called after every reload that saw changed files: `true` when the new pair is in use. */
  onReload(listener: (applied: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files now (what watch events and the poll timer call). */
  reload(): Promise<void> {
    return this.reloadCoalesced();
  }

  stop(): void {
    this.stopped = true;
    this.stopWatching();
    this.listeners.clear();
  }

  private readonly reloadCoalesced = coalesced(
    () => this.reloadOnce(),
    () => this.stopped,
  );

  private async reloadOnce(): Promise<void> {
    const loaded = await loadServingPair(this.options.files);
    if (this.stopped) return;
    const seen = loaded.ok
      ? fingerprint(loaded.pair.certPem, loaded.pair.keyPem)
      : `refused:${loaded.reason}`;
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;
    if (loaded.ok) {
      this.pair = loaded.pair;
      this.options.log.info(
        { subject: loaded.pair.subject, notAfter: loaded.pair.notAfter.toISOString() },
        "serving a new certificate from now on",
      );
    } else {
      this.options.log.error(
        { code: loaded.code, keptNotAfter: this.pair.notAfter.toISOString() },
        `refused the changed serving certificate, still serving the previous one: ${describe(loaded.code, loaded.reason)}`,
      );
    }
    for (const listener of [...this.listeners]) listener(loaded.ok);
  }
}

function fingerprint(certPem: string, keyPem: string): string {
  return JSON.stringify([certPem, keyPem]);
}
