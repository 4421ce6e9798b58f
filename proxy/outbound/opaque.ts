/**
 * Outbound opaque TCP, the byte-stream path: a listener per opaque destination (accept); each
 * connection has the destination's balancer pick an endpoint (balance), is labelled by the
 * endpoint's identity (endpoint), and becomes its own mTLS stream to the peer proxy or a plain TCP
 * connection to an endpoint without identity (connect.ts).
 */
import net, { type Server } from "node:net";
import { parseHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import type { Destination } from "../discovery/destinations.js";
import { connectError } from "../errors.js";
import type { ProxyMetrics } from "../metrics/index.js";
import type { Connections } from "../transport/connections.js";
import { splice } from "../transport/opaque.js";
import { SplicedReads } from "../transport/reads.js";
import type { Connect } from "./connect.js";

const log = logger("outbound");

export function bindOpaque(
  dest: Destination,
  connect: Connect,
  metrics: ProxyMetrics,
  connections: Connections,
): Server {
  return net.createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    connections.add(socket);
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
    const tls = ep.identity
      ? { tls: "true", server_id: ep.identity }
      : { tls: "no_identity", no_tls_reason: "not_provided_by_service_discovery" };
    metrics.connection({ direction: "outbound", peer: "src", ...tls }, socket);
    const dialled = ep.identity ? new SplicedReads() : undefined;
    connect.opaque(ep.address, addr.host, addr.port, ep, dialled).then(
      (up) => {
        // A connection that could be made counts as a success for the balancer.
        picked?.release({ ok: true });
        metrics.connection({ direction: "outbound", peer: "dst", ...tls }, up as net.Socket);
        splice(socket, up, { dialled });
      },
      (err) => {
        picked?.release({ ok: false });
        const e = connectError(err, ep.address);
        log.warn({ authority: dest.config.authority, err: e.message, code: e.code }, "opaque connect failed");
        socket.destroy();
      },
    );
  });
}
