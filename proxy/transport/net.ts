/** Plain TCP helpers shared by both sides: listening and connecting with a deadline. */
import net, { type Server, type Socket } from "node:net";
import { formatHostPort, parseHostPort } from "../../lib/address.js";
import { DEFAULTS, type ListenAddr } from "../config.js";

/** Starts listening; resolves the bound address as `host:port`. */
export function listenOn(server: Server, addr: ListenAddr): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => {
      server.off("error", reject);
      const bound = server.address();
      if (bound && typeof bound === "object") {
        resolve(formatHostPort(bound.address, bound.port));
      } else resolve(String(bound));
    });
  });
}

/** A plain TCP connection, resolved once connected, refused after `timeoutMs`. */
export function connectPlain(hostPort: string, timeoutMs: number): Promise<Socket> {
  const addr = parseHostPort(hostPort) ?? { host: hostPort, port: DEFAULTS.PEER_INBOUND_PORT };
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: addr.host, port: addr.port, noDelay: true });
    const timer = setTimeout(
      () => socket.destroy(new Error(`connecting to ${hostPort} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
