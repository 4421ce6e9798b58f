/**
 * Image `trellis.test/echo`: an HTTP server that answers every request with one JSON line naming the
 * pod it runs in, so a test can tell which endpoint served it. Listens on 0.0.0.0:$PORT (default 8080)
 * and stops on SIGTERM.
 */
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? "8080");
const pod = process.env.POD_NAME ?? process.env.HOSTNAME ?? "unknown";
const server = createServer((req, res) => {
  const body = JSON.stringify({ pod, method: req.method, path: req.url, host: req.headers.host });
  res.writeHead(200, { "content-type": "application/json" }).end(`${body}\n`);
});
server.listen(port, "0.0.0.0", () => process.stdout.write(`echo listening on :${port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
