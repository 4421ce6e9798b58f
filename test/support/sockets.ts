/**
 * How tests reach a proxy's listeners as an app or a mesh peer would (a plain connection, an mTLS one
 * with a leaf of the mesh's CA), and how they read what the proxy costs (its RSS).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import type { TestMesh, TestProxy } from "./mesh.js";

export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** A plain TCP connection to `address` (host:port), as an app reaches the outbound listener. */
export function connect(address: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(hostPort(address));
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * A mesh peer's connection to `server`'s inbound listener: mTLS with a leaf of the mesh's CA for
 * `serviceAccount`, verifying the server proxy's identity, and the ALPN protocol `alpn` agreed.
 */
export async function connectMtls(
  mesh: TestMesh,
  server: TestProxy,
  alpn: string,
  serviceAccount = "peer",
): Promise<tls.TLSSocket> {
  const leaf = await mesh.pki.leaf(mesh.identityOf(serviceAccount));
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...hostPort(server.inbound),
      ca: mesh.pki.anchor.certPem,
      cert: leaf.certChainPem,
      key: leaf.keyPem,
      ALPNProtocols: [alpn],
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${server.identity}` ? undefined : new Error(cert.subjectaltname),
    });
    socket.once("secureConnect", () => {
      if (socket.alpnProtocol === alpn) resolve(socket);
      else reject(new Error(`ALPN ${socket.alpnProtocol}`));
    });
    socket.once("error", reject);
  });
}

/** A proxy's resident memory, MiB, from /proc/<pid>/status. */
export function rssMb(proxy: TestProxy): number {
  const status = readFileSync(`/proc/${proxy.child.process.pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert.ok(kb, "VmRSS in /proc/<pid>/status");
  return Number(kb[1]) / 1024;
}
