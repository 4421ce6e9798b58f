/**
 * The issuer in use, kept in step with its files. The trust anchors, issuer certificate and key files
 * are watched (fs.watch on their directories, since a Kubernetes Secret mount swaps a `..data` symlink
 * rather than writing the files, plus a periodic re-read in case a watch event is lost); a change is
 * debounced, then the three files are loaded together. A valid new issuer is used from the next
 * request on; an invalid one is refused with a log line naming the file and the previous one is kept.
 *
 *   loaded ──files change──► reloading ──valid──► loaded (new issuer, listeners told)
 *                                  └──invalid──► loaded (previous issuer kept, refusal logged)
 */
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { coalesced } from "../../lib/coalesce.js";
import { type Logger, logger } from "../../lib/log.js";
import { CertificateAuthority } from "./ca.js";
import { describe, IdentityError, type Refusal, refuse } from "./errors.js";

/** Where the CA's PEM files live. */
export interface IssuerFiles {
  trustAnchors: string;
  issuerCertificate: string;
  issuerKey: string;
}

export interface IssuerStoreOptions {
  files: IssuerFiles;
  /** Wait this long after the last change event before reloading (writers touch several files). */
  debounceMs?: number;
  /** Re-read the files this often even without watch events. */
  pollIntervalMs?: number;
  log?: Logger;
}

/** What happened to one reload attempt, as told to listeners. */
export type ReloadOutcome =
  | { applied: true; ca: CertificateAuthority }
  | { applied: false; refusal: Refusal };

export const DEFAULT_DEBOUNCE_MS = 200;
export const DEFAULT_POLL_INTERVAL_MS = 10_000;

type Contents = { trustAnchorsPem: string; issuerCertPem: string; issuerKeyPem: string };

export class IssuerStore {
  private ca: CertificateAuthority;
  private lastSeen: string;
  private readonly watchers: FSWatcher[] = [];
  private readonly listeners = new Set<(outcome: ReloadOutcome) => void>();
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;

  private constructor(
    private readonly options: IssuerStoreOptions,
    ca: CertificateAuthority,
    contents: Contents,
  ) {
    this.ca = ca;
    this.lastSeen = fingerprint(contents);
    this.log = options.log ?? logger("identity");
  }

  /**
   * Loads the files and starts watching them. Throws IdentityError naming the file when any is
   * unreadable or the CA they make is invalid: at start there is no previous issuer to fall back on.
   */
  static async open(options: IssuerStoreOptions): Promise<IssuerStore> {
    const contents = await readAll(options.files);
    if (!contents.ok) throw new IdentityError(contents.code, contents.reason);
    const ca = await CertificateAuthority.load({ ...contents.value, names: caNames(options.files) });
    const store = new IssuerStore(options, ca, contents.value);
    store.watch();
    return store;
  }

  /** The issuer to sign with now. */
  current(): CertificateAuthority {
    return this.ca;
  }

  /** Called after every reload attempt that saw changed files. Returns the unsubscribe function. */
  onReload(listener: (outcome: ReloadOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files now (also what watch events and the poll timer end up calling). */
  reload(): Promise<void> {
    return this.reloadCoalesced();
  }

  private readonly reloadCoalesced = coalesced(
    () => this.reloadOnce(),
    () => this.stopped,
  );

  stop(): void {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    this.listeners.clear();
  }

  private watch(): void {
    const dirs = new Set(Object.values(this.options.files).map((f) => dirname(resolve(f))));
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on("error", (err) =>
          this.log.warn({ err, dir }, "watching the CA files failed; relying on polling"),
        );
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ err, dir }, "cannot watch the CA files' directory; relying on polling");
      }
    }
    this.poll = setInterval(
      () => void this.reload(),
      this.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    );
    this.poll.unref();
  }

  private changed(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private async reloadOnce(): Promise<void> {
    const contents = await readAll(this.options.files);
    if (this.stopped) return;
    const seen = contents.ok ? fingerprint(contents.value) : `unreadable:${contents.reason}`;
    // Unchanged since the last attempt, valid or not: nothing to do, and no repeated refusal logs.
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;

    let outcome: ReloadOutcome;
    if (!contents.ok) {
      outcome = { applied: false, refusal: contents };
    } else {
      const loaded = await CertificateAuthority.tryLoad({
        ...contents.value,
        names: caNames(this.options.files),
      });
      outcome = loaded.ok ? { applied: true, ca: loaded.ca } : { applied: false, refusal: loaded };
    }
    if (this.stopped) return;
    if (outcome.applied) {
      this.ca = outcome.ca;
      this.log.info(
        { issuer: outcome.ca.issuer.subject, notAfter: outcome.ca.issuerNotAfter.toISOString() },
        "loaded a new issuer; signing with it from now on",
      );
    } else {
      this.log.error(
        { code: outcome.refusal.code, keptIssuerNotAfter: this.ca.issuerNotAfter.toISOString() },
        `refused the changed CA files, still signing with the previous issuer: ${describe(outcome.refusal.code, outcome.refusal.reason)}`,
      );
    }
    for (const listener of [...this.listeners]) listener(outcome);
  }
}

function caNames(files: IssuerFiles) {
  return {
    trustAnchors: files.trustAnchors,
    issuerCertificate: files.issuerCertificate,
    issuerKey: files.issuerKey,
  };
}

function fingerprint(c: Contents): string {
  return JSON.stringify([c.trustAnchorsPem, c.issuerCertPem, c.issuerKeyPem]);
}

async function readAll(files: IssuerFiles): Promise<{ ok: true; value: Contents } | Refusal> {
  const read = async (path: string) => {
    try {
      return { ok: true as const, text: await readFile(path, "utf8") };
    } catch (err) {
      return refuse("TRELLIS_E_IDENTITY_FILE_UNREADABLE", `${path}: ${(err as Error).message}`);
    }
  };
  const [anchors, cert, key] = await Promise.all([
    read(files.trustAnchors),
    read(files.issuerCertificate),
    read(files.issuerKey),
  ]);
  if (!anchors.ok) return anchors;
  if (!cert.ok) return cert;
  if (!key.ok) return key;
  return {
    ok: true,
    value: { trustAnchorsPem: anchors.text, issuerCertPem: cert.text, issuerKeyPem: key.text },
  };
}
