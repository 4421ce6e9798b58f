/**
 * Image `trellis.test/webhook`: a mutating admission webhook over HTTPS, as a pod serves one (the
 * Trellis injector will): certificate and key from $TLS_DIR (default /tls, `tls.crt`/`tls.key`, e.g. a
 * Secret volume), port $PORT (default 8443). It allows every request and adds the annotation
 * `testbed.trellis.dev/mutated-by: <its pod name>`.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { join } from "node:path";

const dir = process.env.TLS_DIR ?? "/tls";
const port = Number(process.env.PORT ?? "8443");
const pod = process.env.HOSTNAME ?? "unknown";
const server = createServer(
  { cert: readFileSync(join(dir, "tls.crt")), key: readFileSync(join(dir, "tls.key")) },
  (req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      let uid = "";
      try {
        uid = (JSON.parse(body) as { request?: { uid?: string } }).request?.uid ?? "";
      } catch {
        res.writeHead(400).end("not an AdmissionReview\n");
        return;
      }
      const patch = [
        { op: "add", path: "/metadata/annotations", value: { "testbed.trellis.dev/mutated-by": pod } },
      ];
      const review = {
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: {
          uid,
          allowed: true,
          patchType: "JSONPatch",
          patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
        },
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(review));
    });
  },
);
server.listen(port, "0.0.0.0", () => process.stdout.write(`webhook listening on :${port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
