/**
 * Wires the identity service together and runs it: the issuer store (watched files), the serving
 * certificate issued from it, the Certify gRPC server over TLS and the admin HTTP server. Used by the
 * `trellis-controller identity` command and, in process, by tests.
 */
import type { Server as HttpServer } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { formatHostPort, type ListenAddress } from "../../lib/address.js";
import { type Logger, logger } from "../../lib/log.js";
import { IdentityService } from "../api/gen/trellis/identity/v1/identity.js";
import { createAdminServer, listenAdmin } from "../common/admin.js";
import type { TokenVerifier } from "../common/token-verifier.js";
import { IdentityError } from "./errors.js";
import { type IssuerFiles, IssuerStore } from "./issuer-store.js";
import { IdentityMetrics } from "./metrics.js";
import { Certifier, identityServer } from "./service.js";
import { ServingCertificate } from "./serving.js";

export type { ListenAddress };

export interface IdentityServiceOptions {
  listen: ListenAddress;
  adminListen: ListenAddress;
  trustDomain: string;
  files: IssuerFiles;
  /** Lifetime of issued leaves (the service's own included). */
  lifetimeMs: number;
  /** How far NotBefore is back-dated. */
  clockSkewMs: number;
  verifier: TokenVerifier;
  /** The service's own SPIFFE ID, in its serving certificate. */
  serviceIdentity: string;
  /** Debounce and poll interval of the CA file watch (tests shorten them). */
  reloadDebounceMs?: number;
  reloadPollIntervalMs?: number;
  log?: Logger;
}

/** A running identity service. */
export interface RunningIdentityService {
  /** The SPIFFE ID its certificate carries. */
  readonly identity: string;
  /** host:port the gRPC server is bound to. */
  readonly listen: string;
  /** host:port the admin server is bound to. */
  readonly admin: string;
  readonly store: IssuerStore;
  readonly serving: ServingCertificate;
  readonly metrics: IdentityMetrics;
  /** Stops accepting calls, lets calls in flight finish (at most graceMs), then closes everything. */
  shutdown(graceMs?: number): Promise<void>;
}

// A CertifyRequest is a token and a CSR, a few KiB; refuse anything far larger before decoding.
const MAX_REQUEST_BYTES = 64 * 1024;

/** Starts the service. Throws IdentityError (naming the file or address) when it cannot. */
export async function startIdentityService(options: IdentityServiceOptions): Promise<RunningIdentityService> {
  const log = options.log ?? logger("identity");
  const store = await IssuerStore.open({
    files: options.files,
    log,
    ...(options.reloadDebounceMs !== undefined && { debounceMs: options.reloadDebounceMs }),
    ...(options.reloadPollIntervalMs !== undefined && { pollIntervalMs: options.reloadPollIntervalMs }),
  });
  const ca = () => store.current();
  const metrics = new IdentityMetrics(ca);
  const serving = new ServingCertificate({
    identity: options.serviceIdentity,
    ca,
    lifetimeMs: options.lifetimeMs,
    clockSkewMs: options.clockSkewMs,
    log,
  });
  let grpcServer: grpc.Server | undefined;
  let admin: HttpServer | undefined;
  try {
    await serving.start();
  } catch (err) {
    store.stop();
    throw new IdentityError("TRELLIS_E_IDENTITY_SERVING_CERTIFICATE", (err as Error).message);
  }
  store.onReload((outcome) => {
    metrics.issuerReloads.inc({ result: outcome.applied ? "applied" : "refused" });
    if (outcome.applied) void serving.renew("issuer changed");
  });

  const cleanup = () => {
    store.stop();
    serving.stop();
    grpcServer?.forceShutdown();
    admin?.closeAllConnections();
    admin?.close();
  };
  try {
    grpcServer = new grpc.Server({ "grpc.max_receive_message_length": MAX_REQUEST_BYTES });
    const certifier = new Certifier({
      trustDomain: options.trustDomain,
      verifier: options.verifier,
      ca,
      lifetimeMs: options.lifetimeMs,
      clockSkewMs: options.clockSkewMs,
    });
    grpcServer.addService(IdentityService, identityServer(certifier, metrics, log));
    // No client certificates: proxies have none until this service gives them one. (grpc-js's
    // argument names are swapped: the first provider is the identity, the second the client CA.)
    const credentials = grpc.experimental.createCertificateProviderServerCredentials(serving, null, false);
    const listenAddr = formatHostPort(options.listen.host, options.listen.port);
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer?.bindAsync(listenAddr, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    ).catch((err: Error) => {
      throw new IdentityError("TRELLIS_E_IDENTITY_LISTEN", `--listen ${listenAddr}: ${err.message}`);
    });
    const listen = formatHostPort(options.listen.host, port);

    let accepting = true;
    admin = createAdminServer({
      registry: metrics.registry,
      log,
      ready: () => {
        if (!accepting) return { ok: false, reason: "shutting down" };
        const issuer = store.current();
        const now = Date.now();
        if (now < issuer.issuerNotBefore.getTime() || now >= issuer.issuerNotAfter.getTime())
          return {
            ok: false,
            reason: `the issuer is not valid now (NotAfter ${issuer.issuerNotAfter.toISOString()})`,
          };
        return { ok: true, reason: "" };
      },
    });
    const adminServer = admin;
    const adminAddr = await listenAdmin(adminServer, options.adminListen).catch((err: Error) => {
      throw new IdentityError(
        "TRELLIS_E_IDENTITY_LISTEN",
        `--admin-listen ${formatHostPort(options.adminListen.host, options.adminListen.port)}: ${err.message}`,
      );
    });
    adminServer.on("error", (err) => log.error({ err }, "admin server error"));
    log.info({ identity: options.serviceIdentity, listen, admin: adminAddr }, "identity service serving");

    const server = grpcServer;
    let shutdown: Promise<void> | undefined;
    return {
      identity: options.serviceIdentity,
      listen,
      admin: adminAddr,
      store,
      serving,
      metrics,
      shutdown(graceMs = 5_000) {
        shutdown ??= (async () => {
          accepting = false;
          store.stop();
          serving.stop();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              server.forceShutdown();
              resolve();
            }, graceMs);
            server.tryShutdown(() => {
              clearTimeout(timer);
              resolve();
            });
          });
          adminServer.closeAllConnections();
          await new Promise((resolve) => adminServer.close(resolve));
          log.info("identity service stopped");
        })();
        return shutdown;
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
