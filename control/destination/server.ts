/**
 * Wires the destination service together and runs it: a source (already loaded), the watchers on it,
 * the Get/GetProfile gRPC server (mutual TLS: the service's own mesh certificate, clients' chaining to
 * the trust anchors; or plaintext for local use) and the admin HTTP server (/metrics, /ready, /live,
 * shared with the identity service, plus the read-only `/endpoints` lookup of lookup.ts). Used by
 * `trellis-controller destination` and, in process, by tests.
 */
import type { Server as HttpServer } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { formatHostPort, type ListenAddress } from "../../lib/address.js";
import { type Logger, logger } from "../../lib/log.js";
import { DestinationService } from "../api/gen/trellis/destination/v1/destination.js";
import { createAdminServer, listenAdmin } from "../common/admin.js";
import { DestinationError } from "./errors.js";
import { endpointsRoute } from "./lookup.js";
import { DestinationMetrics } from "./metrics.js";
import { DEFAULT_STREAM_QUEUE_CAPACITY, destinationServer } from "./service.js";
import type { Source } from "./source.js";
import { Watchers } from "./watchers.js";

export interface DestinationServiceOptions {
  listen: ListenAddress;
  adminListen: ListenAddress;
  /** Loaded before the call; the service stops it on shutdown. */
  source: Source;
  clusterDomain: string;
  trustDomain: string;
  /** TLS, with client certificates required; absent: plaintext gRPC, for a local mesh and tests only. */
  tls?: ServingTls;
  /** Messages a stream may have waiting for its client before it is closed (default 100). */
  streamQueueCapacity?: number;
  log?: Logger;
}

export interface ServingTls {
  /** The service's own certificate, renewed while it runs. */
  certificate: grpc.experimental.CertificateProvider;
  /** The trust anchors a client's certificate must chain to: only mesh workloads may ask. */
  clientAnchors: grpc.experimental.CertificateProvider;
}

export interface RunningDestinationService {
  /** host:port the gRPC server is bound to. */
  readonly listen: string;
  /** host:port the admin server is bound to. */
  readonly admin: string;
  readonly metrics: DestinationMetrics;
  readonly watchers: Watchers;
  /** Ends every stream (proxies keep their last state and reconnect) and closes everything. */
  shutdown(): Promise<void>;
}

/**
 * The service definition with each response encoded once per message object: watchers hand the same
 * Update to every stream of a topic, so a change fanned out to 1,000 streams is encoded once.
 */
function encodeOncePerMessage<D extends grpc.ServiceDefinition>(definition: D): D {
  const shared: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, method] of Object.entries(definition) as [
    string,
    grpc.MethodDefinition<object, object>,
  ][]) {
    const encoded = new WeakMap<object, Buffer>();
    shared[name] = {
      ...method,
      responseSerialize: (value: object) => {
        let bytes = encoded.get(value);
        if (!bytes) {
          bytes = method.responseSerialize(value);
          encoded.set(value, bytes);
        }
        return bytes;
      },
    };
  }
  return shared as unknown as D;
}

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

// A GetDestination is an authority and a namespace; refuse anything far larger before decoding.
const MAX_REQUEST_BYTES = 4 * 1024;

/** Starts the service. Throws DestinationError (naming the address) when it cannot listen. */
export async function startDestinationService(
  options: DestinationServiceOptions,
): Promise<RunningDestinationService> {
  const log = options.log ?? logger("destination");
  const metrics = new DestinationMetrics();
  const { source } = options;
  const offRefusal = source.onRefusal((p) => metrics.resourceRefusals.inc({ code: p.code }));
  const watchers = new Watchers(source, options);
  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": MAX_REQUEST_BYTES,
    // Streams live as long as their proxy: ping idle connections so a proxy that vanished without
    // closing its socket (a killed node) releases its streams within a minute.
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
  });
  let admin: HttpServer | undefined;
  const cleanup = () => {
    offRefusal();
    watchers.stop();
    source.stop();
    grpcServer.forceShutdown();
    admin?.closeAllConnections();
    admin?.close();
  };
  try {
    grpcServer.addService(
      encodeOncePerMessage(DestinationService),
      destinationServer({
        source,
        watchers,
        metrics,
        clusterDomain: options.clusterDomain,
        streamQueueCapacity: options.streamQueueCapacity ?? DEFAULT_STREAM_QUEUE_CAPACITY,
        log,
      }),
    );
    const listenAddr = formatHostPort(options.listen.host, options.listen.port);
    const credentials = options.tls
      ? grpc.experimental.createCertificateProviderServerCredentials(
          options.tls.certificate,
          options.tls.clientAnchors,
          true,
        )
      : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(listenAddr, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    ).catch((err: Error) => {
      throw new DestinationError("TRELLIS_E_DESTINATION_LISTEN", `--listen ${listenAddr}: ${err.message}`);
    });
    const listen = formatHostPort(options.listen.host, port);

    let accepting = true;
    admin = createAdminServer({
      registry: metrics.registry,
      log,
      ready: () => (accepting ? { ok: true, reason: "" } : { ok: false, reason: "shutting down" }),
      json: { "/endpoints": endpointsRoute({ source, watchers, clusterDomain: options.clusterDomain }) },
    });
    const adminServer = admin;
    const adminAddr = await listenAdmin(adminServer, options.adminListen).catch((err: Error) => {
      throw new DestinationError(
        "TRELLIS_E_DESTINATION_LISTEN",
        `--admin-listen ${formatHostPort(options.adminListen.host, options.adminListen.port)}: ${err.message}`,
      );
    });
    adminServer.on("error", (err) => log.error({ err }, "admin server error"));
    log.info({ listen, admin: adminAddr, tls: options.tls !== undefined }, "destination service serving");

    let shutdown: Promise<void> | undefined;
    return {
      listen,
      admin: adminAddr,
      metrics,
      watchers,
      shutdown() {
        shutdown ??= (async () => {
          accepting = false;
          offRefusal();
          watchers.stop();
          source.stop();
          // Streams never end by themselves, so there is nothing to wait for: proxies keep their last
          // state and reconnect (to another replica, or to this one restarted).
          grpcServer.forceShutdown();
          adminServer.closeAllConnections();
          await new Promise((resolve) => adminServer.close(resolve));
          log.info("destination service stopped");
        })();
        return shutdown;
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
