/**
 * Inbound opaque TCP (ALPN `trellis.dev/opaque/v1`, after the TLS accept): the stream opens with a
 * small header naming the app port; the port is checked (ports.ts) and the rest of the stream is
 * spliced to the app (app.ts), bytes untouched.
 */
import type { TLSSocket } from "node:tls";
import { logger } from "../../lib/log.js";
import { ProxyError } from "../errors.js";
import { readOpaqueHeader, splice } from "../transport/opaque.js";
import { readInto, SplicedReads } from "../transport/reads.js";
import type { App } from "./app.js";
import { appPort, type PortPolicy } from "./ports.js";

const log = logger("inbound");

export interface OpaqueOptions extends PortPolicy {
  /** How long the stream's header may take to arrive, ms. */
  detectTimeoutMs: number;
}

/** Serves one opaque stream from a peer proxy whose client certificate named `clientId`. */
export async function forwardOpaque(
  socket: TLSSocket,
  clientId: string,
  app: App,
  options: OpaqueOptions,
): Promise<void> {
  const reads = new SplicedReads();
  readInto(socket, reads);
  const header = await readOpaqueHeader(socket, reads, options.detectTimeoutMs);
  const port =
    typeof header === "number"
      ? appPort(String(header), options)
      : new ProxyError("TRELLIS_E_PROXY_OPAQUE_HEADER", header);
  if (port instanceof ProxyError) {
    log.warn({ client: clientId, code: port.code, err: port.message }, "opaque stream refused");
    socket.destroy();
    return;
  }
  app.connect(port).then(
    (conn) => {
      splice(socket, conn, { accepted: reads });
    },
    (err: Error) => {
      log.warn(
        { client: clientId, port, err: err.message, code: "TRELLIS_E_PROXY_APP_UNREACHABLE" },
        "app unreachable",
      );
      socket.destroy();
    },
  );
}
