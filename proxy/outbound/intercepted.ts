/**
 * Intercepted connections (accept, under iptables interception): the app dialled an address of its
 * choosing and iptables redirected the connection here; its original destination
 * (transport/original-dst.ts) says where it was going. Before a byte is read, the destination service
 * is asked about that `ip:port` (a ClusterIP or a pod IP; the first answer is awaited, bounded), then:
 *
 * - unknown (neither a ClusterIP nor a pod IP): forwarded unchanged, in plain TCP, to the original
 *   destination (opaque.ts `forwardPlain`), as the app would have reached it without the mesh;
 * - known and opaque (the destination service announces the port opaque, or it is one of
 *   TRELLIS_PROXY_OPAQUE_PORTS): proxied at once, without detection, so a server that speaks first
 *   (SMTP, MySQL) is not kept waiting: over mTLS to an endpoint's proxy, the endpoint's port in the
 *   opaque header (opaque.ts `forwardOpaque`);
 * - known otherwise: the first bytes decide (detect). HTTP goes on to the route stage, by its Host,
 *   or by the original destination when an HTTP/1 request has none (HTTP/1.0); anything else (a TLS
 *   ClientHello, another protocol, or nothing within the detection timeout) is proxied opaquely as
 *   above, the bytes already read sent first.
 */
import type { Socket } from "node:net";
import { formatHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import type { PortSet } from "../../lib/ports.js";
import type { Destination, DestinationResolver } from "../discovery/destinations.js";
import { pickWeighted } from "../profiles/index.js";
import { type Detected, detect } from "../transport/detect.js";
import type { OriginalDst } from "../transport/original-dst.js";
import { forwardOpaque, forwardPlain, type OpaqueStage } from "./opaque.js";

const log = logger("outbound");

export interface InterceptedOptions extends OpaqueStage {
  resolver: DestinationResolver;
  /** Ports opaque whatever the destination service says (TRELLIS_PROXY_OPAQUE_PORTS). */
  opaquePorts: PortSet;
  detectTimeoutMs: number;
  /** Whether host:port is one of this proxy's own listeners (forwarding there would loop). */
  isSelf: (host: string, port: number) => boolean;
  /** Takes an HTTP connection over; `authority` names the original destination, for requests without Host. */
  http(socket: Socket, detected: Detected, authority: string): void;
}

export class Intercepted {
  constructor(private readonly options: InterceptedOptions) {}

  /** Serves one redirected connection to `dst`. */
  accept(socket: Socket, dst: OriginalDst): void {
    const authority = formatHostPort(dst.address, dst.port);
    if (this.options.isSelf(dst.address, dst.port)) {
      log.warn(
        { dst: authority, code: "TRELLIS_E_PROXY_LOOP" },
        "redirected to the proxy's own port; closing",
      );
      socket.destroy();
      return;
    }
    const pending = this.options.resolver.prepare?.(authority);
    if (pending) void pending.then(() => this.decide(socket, dst, authority));
    else this.decide(socket, dst, authority);
  }

  private decide(socket: Socket, dst: OriginalDst, authority: string): void {
    if (socket.destroyed) return;
    const { resolver } = this.options;
    const dest = resolver.resolve(authority);
    if (!dest) {
      forwardPlain(this.options, socket, dst.address, dst.port);
      return;
    }
    const profile = resolver.profile?.(authority);
    const opaque =
      dest.config.protocol === "opaque" || profile?.opaque === true || this.options.opaquePorts.has(dst.port);
    if (opaque) {
      this.opaque(socket, dest, authority, undefined);
      return;
    }
    void detect(socket, this.options.detectTimeoutMs).then((detected) => {
      const { protocol } = detected;
      if (protocol === "http1" || protocol === "http2") this.options.http(socket, detected, authority);
      else if (protocol === "closed") socket.destroy();
      else {
        log.debug({ dst: authority, protocol }, "not HTTP; proxying opaquely");
        this.opaque(socket, dest, authority, detected.head);
      }
    });
  }

  /** Through the service's traffic split when it has one, as its requests would go. */
  private opaque(socket: Socket, dest: Destination, authority: string, head: Buffer | undefined): void {
    const { resolver } = this.options;
    const backend = pickWeighted(resolver.profile?.(authority)?.dstOverrides ?? []);
    const forward = (d: Destination) =>
      forwardOpaque(this.options, socket, d, { head, countAccepted: false });
    if (!backend) {
      forward(dest);
      return;
    }
    const ready = () => forward(resolver.resolve(backend) ?? dest);
    const pending = resolver.prepare?.(backend);
    if (pending) void pending.then(ready);
    else ready();
  }
}
