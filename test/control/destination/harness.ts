/**
 * The destination service's test harness: a directory of YAML files, the real service started in
 * process on 127.0.0.1 (port 0) over the local source, and real grpc-js clients whose streams record
 * every message and let a test await the next one that matches.
 */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  DestinationClient,
  type DestinationProfile,
  type Update,
} from "../../../control/api/gen/trellis/destination/v1/destination.js";
import { LocalSource } from "../../../control/destination/local-source.js";
import {
  type RunningDestinationService,
  startDestinationService,
} from "../../../control/destination/server.js";
import { memoryLogger } from "../../support/log.js";

export { adminGet, memoryLogger, sample } from "../identity/harness.js";

const WAIT_MS = 15_000;

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-destination-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file the way an atomic writer does: a new file renamed over the old one. */
export async function writeYaml(dir: string, name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, name));
}

export interface Harness {
  dir: string;
  source: LocalSource;
  service: RunningDestinationService;
  client: DestinationClient;
  log: ReturnType<typeof memoryLogger>;
  /** Resolves after the source's next load (a file change seen and applied). */
  nextLoad(): Promise<void>;
}

/** Starts the real service on a directory holding `files`. */
export async function startHarness(
  t: TestContext,
  files: Record<string, string>,
  options: { streamQueueCapacity?: number; log?: Logger } = {},
): Promise<Harness> {
  const dir = await tempDir(t);
  for (const [name, text] of Object.entries(files)) await writeYaml(dir, name, text);
  const log = memoryLogger();
  const source = await LocalSource.open({
    dir,
    clusterDomain: "cluster.local",
    debounceMs: 20,
    pollIntervalMs: 500,
    log: options.log ?? log.log,
  });
  const service = await startDestinationService({
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    source,
    clusterDomain: "cluster.local",
    trustDomain: "cluster.local",
    ...(options.streamQueueCapacity !== undefined && { streamQueueCapacity: options.streamQueueCapacity }),
    log: options.log ?? log.log,
  });
  t.after(() => service.shutdown());
  const client = new DestinationClient(service.listen, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return {
    dir,
    source,
    service,
    client,
    log,
    nextLoad: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reload within ${WAIT_MS} ms`)), WAIT_MS);
        const off = source.onLoad(() => {
          clearTimeout(timer);
          off();
          resolve();
        });
      }),
  };
}

/** A server stream's messages as they arrive, and how it ended. */
export class Recorder<M> {
  readonly messages: M[] = [];
  readonly ended: Promise<grpc.StatusObject | grpc.ServiceError>;
  private waiters: { pred: (m: M) => boolean; from: number; resolve: (m: M) => void }[] = [];

  constructor(readonly call: grpc.ClientReadableStream<M>) {
    call.on("data", (m: M) => {
      this.messages.push(m);
      for (const w of [...this.waiters]) {
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    this.ended = new Promise((resolve) => {
      call.on("error", (err: grpc.ServiceError) => resolve(err));
      call.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve(s);
      });
    });
  }

  /** The first message from index `from` on that matches, waiting for it if need be (bounded). */
  next(pred: (m: M) => boolean = () => true, from = 0, timeoutMs = WAIT_MS): Promise<M> {
    const seen = this.messages.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `no matching message within ${timeoutMs} ms; got ${this.messages.length}: ${JSON.stringify(this.messages.slice(-3)).slice(0, 2000)}`,
          ),
        );
      }, timeoutMs);
      const done = (m: M) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ pred, from, resolve: done });
    });
  }

  /** How the stream ended, within a bound. */
  async status(timeoutMs = WAIT_MS): Promise<{ code: grpc.status; details: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stream did not end within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const s = await Promise.race([this.ended, timeout]);
      return { code: s.code, details: s.details };
    } finally {
      clearTimeout(timer);
    }
  }

  cancel(): void {
    this.call.cancel();
  }
}

export function get(
  t: TestContext,
  client: DestinationClient,
  authority: string,
  contextNamespace = "",
): Recorder<Update> {
  const r = new Recorder(client.get({ authority, contextNamespace }));
  t.after(() => r.cancel());
  return r;
}

export function getProfile(
  t: TestContext,
  client: DestinationClient,
  authority: string,
  contextNamespace = "",
): Recorder<DestinationProfile> {
  const r = new Recorder(client.getProfile({ authority, contextNamespace }));
  t.after(() => r.cancel());
  return r;
}

/** A local Service document. */
export function serviceYaml(
  name: string,
  namespace: string,
  endpoints: (string | Record<string, unknown>)[],
  extra: Record<string, unknown> = {},
): string {
  const eps = endpoints.map((e) =>
    typeof e === "string" ? { address: e, deployment: name, pod: `${name}-${e}` } : e,
  );
  return `${JSON.stringify({
    apiVersion: "local.trellis.dev/v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }], ...extra, endpoints: eps },
  })}\n`;
}

/** The addresses of an Update, `ip:port`, sorted. */
export function addrsOf(u: Update): string[] {
  if (u.update?.$case === "add")
    return u.update.value.addrs.map((a) => `${a.addr?.ip}:${a.addr?.port}`).sort();
  if (u.update?.$case === "remove") return u.update.value.addrs.map((a) => `${a.ip}:${a.port}`).sort();
  return [];
}
