/**
 * The webhook over HTTPS: `POST /inject` takes an AdmissionReview v1 and answers one, with the
 * JSONPatch admission.ts computed. Everything else is refused with its status and a line naming what
 * was wrong (a body that is not JSON or not an AdmissionReview: 400; too large: 413; another path:
 * 404; another method: 405), and the process stays up. Beside it the admin server (/metrics, /ready,
 * /live), the watched serving certificate, and the Event recorder. Used by `trellis-controller
 * injector` and, in process, by tests.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { formatHostPort, type ListenAddress } from "../../lib/address.js";
import { type Logger, logger } from "../../lib/log.js";
import { createAdminServer, listenAdmin } from "../common/admin.js";
import { admit, parseReview, reviewResponse } from "./admission.js";
import { describe, httpStatusOf, InjectorError, type InjectorErrorCode } from "./errors.js";
import { admissionEvent, eventTarget } from "./events.js";
import { InjectorMetrics, type RequestResult } from "./metrics.js";
import { EventRecorder } from "./recorder.js";
import type { InjectorSources } from "./sources.js";
import { ServingCertificate, type ServingFiles } from "./tls.js";

export interface InjectorServiceOptions {
  listen: ListenAddress;
  adminListen: ListenAddress;
  tls: ServingFiles;
  sources: InjectorSources;
  /** Never injected, besides kube-system. */
  controlPlaneNamespace: string;
  /** Names this replica in the Events it writes (its pod's name). */
  instance: string;
  log?: Logger;
  /** Debounce and poll interval of the certificate file watch (tests shorten them). */
  reloadDebounceMs?: number;
  reloadPollIntervalMs?: number;
  /** Events waiting beyond this are dropped. */
  maxPendingEvents?: number;
  now?: () => Date;
}

export interface RunningInjector {
  /** host:port of the webhook (HTTPS). */
  readonly listen: string;
  /** host:port of the admin server. */
  readonly admin: string;
  readonly metrics: InjectorMetrics;
  readonly serving: ServingCertificate;
  /** Resolves once every Event recorded so far is written, failed or dropped. */
  eventsIdle(): Promise<void>;
  /** /ready turns 503, requests in flight finish (at most graceMs), then everything closes. */
  shutdown(graceMs?: number): Promise<void>;
}

// An AdmissionReview of a Pod is a few KiB to a few hundred; the API server stores at most ~1.5 MiB.
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

export async function startInjector(options: InjectorServiceOptions): Promise<RunningInjector> {
  const log = options.log ?? logger("injector");
  const now = options.now ?? (() => new Date());
  const serving = await ServingCertificate.open({
    files: options.tls,
    log,
    ...(options.reloadDebounceMs !== undefined ? { debounceMs: options.reloadDebounceMs } : {}),
    ...(options.reloadPollIntervalMs !== undefined ? { pollIntervalMs: options.reloadPollIntervalMs } : {}),
  });
  const metrics = new InjectorMetrics(() => serving.current().notAfter);
  const recorder = new EventRecorder(
    (e) => options.sources.writeEvent(e),
    metrics,
    log,
    options.maxPendingEvents,
  );

  const refuse = (res: ServerResponse, code: InjectorErrorCode, reason: string, result: RequestResult) => {
    metrics.requests.inc({ result });
    log.warn({ code }, `refused a request: ${reason}`);
    res.writeHead(httpStatusOf(code), { "content-type": "text/plain; charset=utf-8", connection: "close" });
    res.end(`${describe(code, reason)}\n`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/inject") {
      req.resume();
      return refuse(res, "TRELLIS_E_INJECTOR_NOT_FOUND", `${req.method} ${path}`, "bad_request");
    }
    if (req.method !== "POST") {
      req.resume();
      res.setHeader("allow", "POST");
      return refuse(res, "TRELLIS_E_INJECTOR_METHOD", `${req.method} ${path}`, "bad_request");
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === "too large")
      return refuse(
        res,
        "TRELLIS_E_INJECTOR_TOO_LARGE",
        `more than ${MAX_BODY_BYTES} bytes; an AdmissionReview of a Pod is far smaller`,
        "bad_request",
      );
    if (body === "aborted") return;
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch (err) {
      return refuse(
        res,
        "TRELLIS_E_INJECTOR_BAD_REVIEW",
        `the body is not JSON (${(err as Error).message})`,
        "bad_request",
      );
    }
    const parsed = parseReview(json);
    if (!parsed.ok) return refuse(res, "TRELLIS_E_INJECTOR_BAD_REVIEW", parsed.reason, "bad_request");
    const request = parsed.request;
    const namespace = await options.sources.namespace(request.namespace);
    const admission = admit({
      request,
      namespace,
      config: options.sources.config(),
      controlPlaneNamespace: options.controlPlaneNamespace,
    });
    metrics.requests.inc({ result: admission.verdict });
    const meta = (request.object.metadata ?? {}) as { name?: string; generateName?: string };
    log.info(
      {
        uid: request.uid,
        namespace: request.namespace,
        pod: meta.name ?? `${meta.generateName ?? ""}*`,
        verdict: admission.verdict,
        dryRun: request.dryRun,
      },
      admission.reason,
    );
    // A dry run stores nothing, so nothing happened worth an Event (and sideEffects: None says so).
    if (admission.pod && !request.dryRun) {
      const target = eventTarget(request.object, request.namespace);
      if (target) recorder.record(admissionEvent(target, request.object, admission, options.instance, now()));
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(reviewResponse(request.uid, admission)));
  };

  const initial = serving.current();
  const server: HttpsServer = createServer(
    {
      cert: initial.certPem,
      key: initial.keyPem,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
    },
    (req, res) =>
      void handle(req, res).catch((err: Error) => {
        log.error({ err }, "deciding about a request failed");
        if (!res.headersSent) refuse(res, "TRELLIS_E_INJECTOR_INTERNAL", err.message, "error");
        else res.destroy();
      }),
  );
  server.on("clientError", (_err, socket: Socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  // A TLS handshake that fails (a client that does not trust us, a port scan) is logged, not fatal.
  server.on("tlsClientError", (err) => log.debug({ err: err.message }, "TLS handshake failed"));
  serving.onReload((applied) => {
    metrics.certificateReloads.inc({ result: applied ? "applied" : "refused" });
    if (!applied) return;
    const pair = serving.current();
    server.setSecureContext({ cert: pair.certPem, key: pair.keyPem });
  });

  let admin: HttpServer | undefined;
  const cleanup = () => {
    serving.stop();
    server.close();
    admin?.close();
  };
  try {
    const listen = await new Promise<string>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.listen.port, options.listen.host, () => {
        server.off("error", reject);
        resolve(formatHostPort(options.listen.host, (server.address() as AddressInfo).port));
      });
    }).catch((err: Error) => {
      throw new InjectorError(
        "TRELLIS_E_INJECTOR_LISTEN",
        `--listen ${formatHostPort(options.listen.host, options.listen.port)}: ${err.message}`,
      );
    });
    let accepting = true;
    admin = createAdminServer({
      registry: metrics.registry,
      log,
      ready: () => (accepting ? options.sources.ready() : { ok: false, reason: "shutting down" }),
    });
    const adminServer = admin;
    const adminAddr = await listenAdmin(adminServer, options.adminListen).catch((err: Error) => {
      throw new InjectorError(
        "TRELLIS_E_INJECTOR_LISTEN",
        `--admin-listen ${formatHostPort(options.adminListen.host, options.adminListen.port)}: ${err.message}`,
      );
    });
    adminServer.on("error", (err) => log.error({ err }, "admin server error"));
    log.info({ listen, admin: adminAddr, certificate: initial.subject }, "injector serving");

    let shutdown: Promise<void> | undefined;
    return {
      listen,
      admin: adminAddr,
      metrics,
      serving,
      eventsIdle: () => recorder.idle(),
      shutdown(graceMs = 5_000) {
        shutdown ??= (async () => {
          accepting = false;
          serving.stop();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              server.closeAllConnections();
              resolve();
            }, graceMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            server.closeIdleConnections();
          });
          await Promise.race([recorder.idle(), new Promise((r) => setTimeout(r, graceMs).unref())]);
          adminServer.closeAllConnections();
          await new Promise((resolve) => adminServer.close(resolve));
          await options.sources.stop();
          log.info("injector stopped");
        })();
        return shutdown;
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * The whole body, or why not: larger than `limit` (known as soon as it is; the rest is drained unkept,
 * within the request timeout, so the client reads the answer rather than a reset), or the client went away.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too large" | "aborted"> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        chunks = [];
        resolve("too large");
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", () => resolve("aborted"));
    req.on("aborted", () => resolve("aborted"));
  });
}
