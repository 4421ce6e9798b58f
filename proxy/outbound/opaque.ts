/**
 * Outbound opaque TCP: a listener per opaque destination; each connection picks an endpoint and
 * becomes its own mTLS stream to the peer proxy (ALPN `trellis.dev/opaque/v1`, the app port in a
 * small header), or a plain TCP connection to an endpoint without identity.
 */
import net, { type Server } from "node:net";
import type { Duplex } from "node:stream";
import { parseHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import type { Destination } from "../discovery/destinations.js";
import { connectError } from "../errors.js";
import { ALPN_OPAQUE } from "../tls/index.js";
import type { Connections } from "../transport/connections.js";
import { connectPlain } from "../transport/net.js";
import { encodeOpaqueHeader, splice } from "../transport/opaque.js";
import { SplicedReads } from "../transport/reads.js";
import type { OutboundDeps } from "./connect.js";

const log = logger("outbound");

export function bindOpaque(dest: Destination, deps: OutboundDeps, connections: Connections): Server {
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
    deps.metrics.connection({ direction: "outbound", peer: "src", ...tls }, socket);
    const dialled = ep.identity ? new SplicedReads() : undefined;
    const upstream: Promise<Duplex> = ep.identity
      ? deps.tls
          .connect(addr.host, ep.inboundPort, ep.identity, ALPN_OPAQUE, deps.connectTimeoutMs, dialled)
          .then((s) => {
            s.write(encodeOpaqueHeader(addr.port));
            return s;
          })
      : connectPlain(ep.address, deps.connectTimeoutMs);
    upstream.then(
      (up) => {
        // A connection that could be made counts as a success for the balancer.
        picked?.release({ ok: true });
        deps.metrics.connection({ direction: "outbound", peer: "dst", ...tls }, up as net.Socket);
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
