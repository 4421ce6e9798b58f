/**
 * nginx in the bench: the backend (a fixed body) and the baseline mesh, a pair of sidecars doing what
 * two Trellis proxies do: the client side listens in plaintext and proxies over mTLS (TLS 1.3, client
 * certificate, server verified against the trust anchor and its name) through a keep-alive pool; the
 * server side terminates mTLS, requires a client certificate from the mesh, and proxies to the backend
 * through a keep-alive pool. Each runs as the current user from a config in the run's temp dir, one
 * worker, `daemon off`, started and stopped by PID.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Child } from "../support/process.js";
import { BACKEND_BODY, NGINX_KEEPALIVE_REQUESTS, NGINX_UPSTREAM_KEEPALIVE, NGINX_WORKERS } from "./params.js";
import type { BenchPki } from "./pki.js";
import { alsoKill, childPids, spawnTracked, waitForPort } from "./processes.js";

/** A started nginx: its master (what we stop) and its worker (what serves). */
export interface Nginx {
  name: string;
  port: number;
  child: Child;
  /** master + workers, for RSS. */
  pids(): number[];
}

function common(dir: string, name: string, http: string): string {
  // Every path nginx would otherwise take from its compiled-in defaults points into the temp dir.
  const tmp = (what: string) => join(dir, name, what);
  return `worker_processes ${NGINX_WORKERS};
daemon off;
pid ${join(dir, name, "nginx.pid")};
error_log ${join(dir, name, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp("body")};
  proxy_temp_path ${tmp("proxy")};
  fastcgi_temp_path ${tmp("fastcgi")};
  uwsgi_temp_path ${tmp("uwsgi")};
  scgi_temp_path ${tmp("scgi")};
  keepalive_requests ${NGINX_KEEPALIVE_REQUESTS};
  keepalive_timeout 75s;
${http}
}
`;
}

/** The backend: returns BACKEND_BODY to every request. */
export function backendConfig(dir: string, port: number): string {
  return common(
    dir,
    "backend",
    `  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 ${JSON.stringify(BACKEND_BODY)}; }
  }`,
  );
}

/** The client-side sidecar: plaintext in, mTLS out to the server-side sidecar. */
export function clientSidecarConfig(dir: string, port: number, serverPort: number, pki: BenchPki): string {
  return common(
    dir,
    "nginx-client",
    `  upstream server_sidecar {
    server 127.0.0.1:${serverPort};
    keepalive ${NGINX_UPSTREAM_KEEPALIVE};
    keepalive_requests ${NGINX_KEEPALIVE_REQUESTS};
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass https://server_sidecar;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate ${pki.nginxClient.certFile};
      proxy_ssl_certificate_key ${pki.nginxClient.keyFile};
      proxy_ssl_trusted_certificate ${pki.anchorFile};
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name ${pki.nginxServer.dnsName};
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }`,
  );
}

/** The server-side sidecar: mTLS in (client certificate required), plaintext to the backend. */
export function serverSidecarConfig(dir: string, port: number, backendPort: number, pki: BenchPki): string {
  return common(
    dir,
    "nginx-server",
    `  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive ${NGINX_UPSTREAM_KEEPALIVE};
    keepalive_requests ${NGINX_KEEPALIVE_REQUESTS};
  }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate ${pki.nginxServer.certFile};
    ssl_certificate_key ${pki.nginxServer.keyFile};
    ssl_client_certificate ${pki.anchorFile};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
  );
}

/** Writes the config and starts nginx in the foreground; resolves once it accepts connections. */
export async function startNginx(dir: string, name: string, port: number, config: string): Promise<Nginx> {
  const prefix = join(dir, name);
  await mkdir(prefix, { recursive: true });
  const confFile = join(prefix, "nginx.conf");
  await writeFile(confFile, config);
  // -e: the startup error log, before the config is read (the compiled-in one may not be writable).
  const child = spawnTracked(name, "nginx", [
    "-p",
    prefix,
    "-c",
    confFile,
    "-e",
    join(prefix, "startup.log"),
  ]);
  alsoKill(child, () => childPids(child.process.pid ?? -1));
  try {
    await Promise.race([
      waitForPort(port),
      child.exited.then((code) => {
        throw new Error(
          `${name} exited (${code}) at start; see ${join(prefix, "error.log")}\n${child.stderr()}`,
        );
      }),
    ]);
  } catch (err) {
    if (child.running) child.process.kill("SIGTERM");
    throw err;
  }
  const pid = child.process.pid ?? -1;
  return { name, port, child, pids: () => [pid, ...childPids(pid)] };
}
