/**
 * Free ports for processes a test starts on a fixed port (a service restarted on the same address).
 * A port from `listen(0)` comes from the kernel's ephemeral range, the range every other `listen(0)`
 * and every outgoing connection's source port also draw from: between the probe and the child's own
 * bind, another test's process could take it (EADDRINUSE). So the port is drawn at random from below
 * the ephemeral range, where nothing is handed out implicitly, and checked by binding it.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const ATTEMPTS = 50;
const LOWEST = 10_000;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    return Number(low) || 32_768;
  } catch {
    return 32_768;
  }
}

function tryListen(port: number): Promise<number | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = address !== null && typeof address !== "string" ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A port nothing listens on right now, outside the ephemeral range when there is room below it. */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  if (high - LOWEST >= 1_000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = await tryListen(LOWEST + Math.floor(Math.random() * (high - LOWEST)));
      if (port !== undefined) return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error("no free port on 127.0.0.1");
  return port;
}
