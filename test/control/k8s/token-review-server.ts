/**
 * A stand-in API server for TokenReview: a real HTTPS server on 127.0.0.1 serving
 * POST /apis/authentication.k8s.io/v1/tokenreviews, reached through a real kubeconfig file (CA data and
 * a bearer token), so the client library, TLS and the request shape are all the real ones. Each token
 * names its answer: "web-token" authenticates shop/web for identity.trellis.dev, "forbidden" and
 * "server-error" are API errors, any unknown token is not authenticated.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { makeLoopbackServerCert } from "../../support/pki.js";

const ADMIN_TOKEN = "admin-token";
const PATH = "/apis/authentication.k8s.io/v1/tokenreviews";

/** One review request as the stand-in received it. */
export interface SeenReview {
  authorization: string | undefined;
  body: { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
}

// What the stand-in answers for each token.
function review(token: string): { status: number; body: unknown } {
  const ok = (status: Record<string, unknown>) => ({
    status: 201,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token }, status },
  });
  const user = (username: string) => ({ username, uid: "u-1", groups: ["system:serviceaccounts"] });
  switch (token) {
    case "web-token":
      return ok({
        authenticated: true,
        user: user("system:serviceaccount:shop:web"),
        audiences: ["identity.trellis.dev"],
      });
    case "no-audiences":
      return ok({ authenticated: true, user: user("system:serviceaccount:shop:web") });
    case "other-audience":
      return ok({
        authenticated: true,
        user: user("system:serviceaccount:shop:web"),
        audiences: ["https://kubernetes.default.svc"],
      });
    case "a-user":
      return ok({ authenticated: true, user: user("alice"), audiences: ["identity.trellis.dev"] });
    case "forbidden":
      return {
        status: 403,
        body: {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "tokenreviews.authentication.k8s.io is forbidden",
          code: 403,
        },
      };
    case "server-error":
      return {
        status: 500,
        body: { kind: "Status", apiVersion: "v1", status: "Failure", message: "etcd is down", code: 500 },
      };
    default:
      return ok({ authenticated: false, error: "invalid bearer token" });
  }
}

export interface TokenReviewServer {
  /** Every review received, in order. */
  seen: SeenReview[];
  /** A kubeconfig for the stand-in, with the admin's bearer token. */
  kubeconfig: string;
  port: number;
  /** Writes another kubeconfig for `server` (another URL, another bearer token). */
  writeKubeconfig(name: string, server: string, token?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTokenReviewServer(): Promise<TokenReviewServer> {
  const cert = await makeLoopbackServerCert();
  const dir = await mkdtemp(join(tmpdir(), "trellis-kube-"));
  const seen: SeenReview[] = [];
  const writeKubeconfig = async (name: string, server: string, token = ADMIN_TOKEN): Promise<string> => {
    const path = join(dir, name);
    await writeFile(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "test",
            cluster: { server, "certificate-authority-data": Buffer.from(cert.caPem).toString("base64") },
          },
        ],
        users: [{ name: "identity", user: { token } }],
        contexts: [{ name: "test", context: { cluster: "test", user: "identity" } }],
        "current-context": "test",
      }),
    );
    return path;
  };
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`)
        return send(401, { kind: "Status", status: "Failure", message: "Unauthorized", code: 401 });
      if (req.method !== "POST" || req.url?.split("?")[0] !== PATH)
        return send(404, { kind: "Status", code: 404 });
      const body = JSON.parse(raw) as SeenReview["body"];
      seen.push({ authorization: req.headers.authorization, body });
      const answer = review(body.spec?.token ?? "");
      send(answer.status, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    seen,
    port,
    kubeconfig: await writeKubeconfig("kubeconfig", `https://127.0.0.1:${port}`),
    writeKubeconfig,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A port nothing listens on: bind one, note it, close it. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
