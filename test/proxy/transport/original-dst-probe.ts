// A helper of original-dst.test.ts, run inside its network namespace (not a test itself).
//
// `serve`: listens where that test's iptables rules redirect to, as the proxy would (0.0.0.0:4140,
// [::]:4140 IPv6-only, [::]:4142 dual-stack, and 0.0.0.0:4141, whose traffic conntrack does not track)
// and answers each connection with one JSON line: the listener, the socket's local address, what the
// proxy's reader makes of it and what the addon returned. Prints a ready line with its UID and
// effective capabilities first.
// `dial host:port...`: connects to each in turn and prints each answer line.
import { readFileSync } from "node:fs";
import net from "node:net";
import { loadAddon, loadOriginalDst, socketFd } from "../../../proxy/transport/original-dst.js";

const [mode, ...targets] = process.argv.slice(2);

if (mode === "serve") {
  const reader = loadOriginalDst();
  const loaded = loadAddon();
  if ("why" in loaded) throw new Error(loaded.why);
  const { addon } = loaded;
  const answer = (listener: string) => (socket: net.Socket) => {
    let raw: unknown;
    try {
      raw = addon.originalDst(socketFd(socket) ?? -1) ?? "undefined";
    } catch (err) {
      raw = { code: (err as NodeJS.ErrnoException).code };
    }
    const local = `${socket.localAddress}:${socket.localPort}`;
    socket.end(`${JSON.stringify({ listener, local, reader: reader.read(socket), raw })}\n`);
  };
  const listen = (name: string, options: net.ListenOptions) =>
    new Promise<void>((resolve, reject) => {
      const server = net.createServer(answer(name));
      server.once("error", reject);
      server.listen(options, resolve);
    });
  await listen("v4", { host: "0.0.0.0", port: 4140 });
  await listen("untracked", { host: "0.0.0.0", port: 4141 });
  if (process.argv.includes("--ipv6")) {
    await listen("v6", { host: "::", port: 4140, ipv6Only: true });
    await listen("dual", { host: "::", port: 4142 });
  }
  const capEff = /^CapEff:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  process.stdout.write(`${JSON.stringify({ ready: true, uid: process.getuid?.(), capEff })}\n`);
} else if (mode === "dial") {
  for (const target of targets) {
    const colon = target.lastIndexOf(":");
    const host = target.slice(0, colon).replace(/^\[|\]$/g, "");
    const line = await new Promise<string>((resolve) => {
      let got = "";
      const socket = net.connect({ host, port: Number(target.slice(colon + 1)) });
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        got += chunk;
      });
      socket.on("end", () => resolve(got.trim()));
      socket.on("error", (err: NodeJS.ErrnoException) => resolve(JSON.stringify({ error: err.code })));
    });
    process.stdout.write(`${JSON.stringify({ target, answer: JSON.parse(line) })}\n`);
  }
} else {
  process.stderr.write("usage: original-dst-probe.ts serve [--ipv6] | dial host:port...\n");
  process.exitCode = 2;
}
