/**
 * Upgrade (beside the route stage, for an HTTP/1.1 request that asks to switch protocols, e.g.
 * WebSocket): the connection becomes a byte stream to one endpoint of the authority, picked as a
 * request's would be (balance.ts) and dialled as an opaque stream (connect.ts); the request's head
 * goes first. No profile applies: what follows the head is not HTTP requests.
 */

import type { Duplex } from "node:stream";
import { formatHostPort } from "../../lib/address.js";
import { logger } from "../../lib/log.js";
import { connectError, ProxyError } from "../errors.js";
import { upgradeRefusal } from "../http/error-response.js";
import type { UpgradeRequest } from "../http/h1/server.js";
import { splice } from "../transport/opaque.js";
import { SplicedReads } from "../transport/reads.js";
import type { Balance } from "./balance.js";
import type { Connect } from "./connect.js";

const log = logger("outbound");

export class Upgrades {
  constructor(
    private readonly balance: Balance,
    private readonly connect: Connect,
  ) {}

  /** Carries out an Upgrade; `accepted` holds what the app's connection already read past the head. */
  upgrade(req: UpgradeRequest, socket: Duplex, head: Buffer, accepted: SplicedReads): void {
    const authority = req.authority;
    const target = this.balance.target(authority);
    if (target instanceof ProxyError) {
      socket.end(upgradeRefusal(target));
      return;
    }
    // An upgraded stream is not a request the balancer can time: release the pick at once.
    target.release?.({ ok: true, rttMs: 0 });
    const rawHead = [`${req.method} ${req.url} HTTP/1.${req.versionMinor}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      rawHead.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const prelude = Buffer.concat([Buffer.from(`${rawHead.join("\r\n")}\r\n\r\n`, "latin1"), head]);
    const { peer, host, port } = target;
    const dialled = peer ? new SplicedReads() : undefined;
    const address = formatHostPort(host, port);
    const connected = this.connect.opaque(address, host, port, peer, dialled);
    socket.on("error", () => socket.destroy());
    connected.then(
      (upstream) => {
        upstream.write(prelude);
        splice(socket, upstream, { accepted, dialled });
      },
      (err) => {
        const e = connectError(err, address);
        log.warn({ authority, err: e.message, code: e.code }, "upgrade failed");
        socket.end(upgradeRefusal(e));
      },
    );
  }
}
