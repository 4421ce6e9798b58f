// The apps of original-dst.test.ts, run inside its network namespaces (not a test itself). Servers print
// one ready line, `{"ready":true,"listen":"host:port"}`:
//
// - `http <host:port> <name>`: answers every request with JSON naming itself and the request's method,
//   path, Host header and HTTP version;
// - `greeter <host:port>`: speaks first, as SMTP or MySQL do (`220 greeter ready`), then echoes;
// - `echo <host:port>`: echoes.
//
// `client '<steps as JSON>'` runs the steps in order, each bounded by STEP_MS, and prints one JSON line
// per step:
// - `{"raw": "host:port", "send": "..."}`: sends the bytes at once and prints all it reads until the
//   server closes;
// - `{"greet": "host:port", "send": "..."}`: sends nothing until the greeting arrives, then the bytes,
//   and prints the greeting and what came back once the bytes are echoed;
// - `{"speak": "host:port", "send": "..."}`: sends the bytes at once and prints what came back once
//   they are echoed;
// - `{"get": "http://..."}`: a GET, printing the status and body.
import http from "node:http";
import net from "node:net";

const STEP_MS = 20_000;
const [mode, ...args] = process.argv.slice(2);

function hostPort(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(":");
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(text.slice(colon + 1)) };
}

function ready(server: net.Server): void {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, listen: `${a.address}:${a.port}` })}\n`);
}

function listen(server: net.Server, at: string): void {
  const { host, port } = hostPort(at);
  server.listen(port, host, () => ready(server));
}

type Step = { raw?: string; greet?: string; speak?: string; get?: string; send?: string };

/** Connects and runs `talk` on the socket; resolves what it resolves, or an error after STEP_MS. */
function exchange(
  target: string,
  talk: (socket: net.Socket, done: (result: object) => void) => void,
): Promise<object> {
  return new Promise((resolve) => {
    const socket = net.connect(hostPort(target));
    const timer = setTimeout(() => finish({ error: `no answer within ${STEP_MS} ms` }), STEP_MS);
    const finish = (result: object) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.setEncoding("latin1");
    socket.on("error", (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
    talk(socket, finish);
  });
}

async function run(step: Step): Promise<object> {
  const send = step.send ?? "";
  if (step.raw)
    return exchange(step.raw, (socket, done) => {
      let got = "";
      socket.on("data", (c: string) => {
        got += c;
      });
      socket.on("end", () => done({ received: got }));
      socket.write(send, "latin1");
    });
  if (step.greet)
    return exchange(step.greet, (socket, done) => {
      let got = "";
      let greeting: string | undefined;
      socket.on("data", (c: string) => {
        got += c;
        if (greeting === undefined && got.includes("\n")) {
          greeting = got.slice(0, got.indexOf("\n") + 1);
          got = got.slice(greeting.length);
          socket.write(send, "latin1");
        }
        if (greeting !== undefined && got.length >= send.length && send !== "")
          done({ greeting, echoed: got });
      });
    });
  if (step.speak)
    return exchange(step.speak, (socket, done) => {
      let got = "";
      socket.on("data", (c: string) => {
        got += c;
        if (got.endsWith(send)) done({ received: got });
      });
      socket.write(send, "latin1");
    });
  if (step.get) {
    const res = await fetch(step.get, { signal: AbortSignal.timeout(STEP_MS) });
    return { status: res.status, body: await res.text() };
  }
  return { error: `unknown step ${JSON.stringify(step)}` };
}

if (mode === "http") {
  const [at = "", name = ""] = args;
  const server = http.createServer((req, res) => {
    req.resume();
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        name,
        method: req.method,
        path: req.url,
        host: req.headers.host ?? null,
        version: req.httpVersion,
      }),
    );
  });
  listen(server, at);
} else if (mode === "greeter" || mode === "echo") {
  const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    if (mode === "greeter") socket.write("220 greeter ready\r\n");
    socket.pipe(socket);
  });
  listen(server, args[0] ?? "");
} else if (mode === "client") {
  const steps = JSON.parse(args[0] ?? "[]") as Step[];
  for (const step of steps) process.stdout.write(`${JSON.stringify(await run(step))}\n`);
} else {
  process.stderr.write("usage: original-dst-apps.ts http|greeter|echo <host:port> [name] | client <steps>\n");
  process.exitCode = 2;
}
