/**
 * Outbound opaque TCP, the byte-stream path. A connection reaches it from a listener of an opaque
 * destination's own (`bind`, accept), or from an intercepted connection whose original destination
 * is opaque, or known but not HTTP (intercepted.ts). The destination's balancer picks an endpoint
 * (balance), its identity labels the connection (endpoint), and it becomes its own mTLS stream to the
 * peer proxy, the endpoint's port in the opaque header, or a plain TCP connection to an endpoint
 * without identity (connect.ts). An intercepted connection to an address the destination service
 * does not know is forwarded as it is, in plain TCP, to that address.
 */
import net, { type Server } from "node:net";
import { formatHostPort, parseHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import type { Destination } from "../discovery/destinations.js";
import { connectError } from "../errors.js";
import type { ProxyMetrics, TcpLabels } from "../metrics/index.js";
import type { Connections } from "../transport/connections.js";
import { splice } from "../transport/opaque.js";
import { SplicedReads } from "../transport/reads.js";
import type { Connect } from "./connect.js";

const log = logger("outbound");

/** What forwarding a byte stream needs. */
export interface OpaqueStage {
  connect: Connect;
  metrics: ProxyMetrics;
}

export function bindOpaque(dest: Destination, stage: OpaqueStage, connections: Connections): Server {
  return net.createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    forwardOpaque(stage, socket, dest, { countAccepted: true });
  });
}

export interface ForwardOptions {
  /** Bytes already read from the app's connection (protocol detection): they go first. */
  head?: Buffer;
  /** Count the app's connection under the endpoint's labels (a bind listener's; intercepted ones are counted at accept). */
  countAccepted: boolean;
}

/** Proxies `socket` to the endpoint `dest` picks; closes it when there is none or the connection fails. */
export function forwardOpaque(
  stage: OpaqueStage,
  socket: net.Socket,
  dest: Destination,
  options: ForwardOptions,
): void {
  const { connect, metrics } = stage;
  socket.on("error", () => socket.destroy());
  const picked = dest.pick();
  const ep = picked?.endpoint;
  const addr = ep ? parseHostPort(ep.address) : undefined;
  if (!ep || !addr) {
    picked?.release({ ok: false });
    log.warn(
      { authority: dest.config.authority, code: "TRELLIS_E_PROXY_NO_ENDPOINTS" },
      "no endpoint; closing",
    );
    socket.destroy();
    return;
  }
  const tls: TcpLabels = ep.identity
    ? { tls: "true", server_id: ep.identity }
    : { tls: "no_identity", no_tls_reason: "not_provided_by_service_discovery" };
  if (options.countAccepted) metrics.connection({ direction: "outbound", peer: "src", ...tls }, socket);
  const dialled = ep.identity ? new SplicedReads() : undefined;
  connect.opaque(ep.address, addr.host, addr.port, ep, dialled).then(
    (up) => {
      // A connection that could be made counts as a success for the balancer.
      picked?.release({ ok: true });
      metrics.connection({ direction: "outbound", peer: "dst", ...tls }, up as net.Socket);
      if (options.head && options.head.length > 0) up.write(options.head);
      splice(socket, up, { dialled });
    },
    (err) => {
      picked?.release({ ok: false });
      const e = connectError(err, ep.address);
      log.warn({ authority: dest.config.authority, err: e.message, code: e.code }, "opaque connect failed");
      socket.destroy();
    },
  );
}

/**
 * Forwards `socket` unchanged, in plain TCP, to an address the destination service does not know
 * (as the app would have reached it without the mesh), counted with `target_addr` and
 * `no_tls_reason="not_provided_by_service_discovery"`.
 */
export function forwardPlain(stage: OpaqueStage, socket: net.Socket, host: string, port: number): void {
  const address = formatHostPort(host, port);
  socket.on("error", () => socket.destroy());
  stage.connect.opaque(address, host, port, undefined, undefined).then(
    (up) => {
      stage.metrics.connection(
        {
          direction: "outbound",
          peer: "dst",
          tls: "no_identity",
          no_tls_reason: "not_provided_by_service_discovery",
          target_addr: address,
        },
        up as net.Socket,
      );
      splice(socket, up);
    },
    (err) => {
      const e = connectError(err, address);
      log.warn({ target: address, err: e.message, code: e.code }, "forwarding to an unknown address failed");
      socket.destroy();
    },
  );
}
