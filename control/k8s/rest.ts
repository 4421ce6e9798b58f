/**
 * A plain JSON client of the API server for callers that read many kinds by path (`meshctl check`):
 * GET an object or a list, POST a review, GET text through the API server's service or pod proxy. It
 * authenticates as the kubeconfig says (client certificates, tokens, exec plugins through
 * @kubernetes/client-node) and never throws for an answer: a 404 is `undefined`, any other failure a
 * result naming the status or the network error, each request bounded by a timeout.
 */
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** How long one request may take before it counts as failed. */
export const REST_TIMEOUT_MS = 10_000;

/** An answer, or why there is none; `status` 0 means the request never got an HTTP answer. */
export type RestResult<T> =
  | { ok: true; status: number; body: T }
  | { ok: false; status: number; reason: string };

export class RestClient {
  private readonly server: URL;

  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs = REST_TIMEOUT_MS,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.server = new URL(cluster.server);
  }

  /** The API server's URL, as the kubeconfig names it. */
  get serverUrl(): string {
    return this.server.origin;
  }

  /** GETs JSON; a 404 answers ok with an undefined body. */
  async get<T>(path: string): Promise<RestResult<T | undefined>> {
    const r = await this.send("GET", path);
    if (!r.ok) return r.status === 404 ? { ok: true, status: 404, body: undefined } : r;
    return parseJson<T>(r.status, r.body);
  }

  /** POSTs a JSON body and answers the JSON the server returns. */
  async post<T>(path: string, body: unknown): Promise<RestResult<T>> {
    const r = await this.send("POST", path, JSON.stringify(body));
    return r.ok ? parseJson<T>(r.status, r.body) : r;
  }

  /** GETs text (a proxied /ready or /metrics); any status other than 2xx is a failure. */
  async getText(path: string): Promise<RestResult<string>> {
    return this.send("GET", path);
  }

  private async send(method: string, path: string, body?: string): Promise<RestResult<string>> {
    const url = new URL(path, this.server);
    const options: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        accept: "application/json, text/plain",
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
    };
    try {
      await this.kc.applyToHTTPSOptions(options as never);
    } catch (err) {
      return { ok: false, status: 0, reason: `cannot authenticate: ${(err as Error).message}` };
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => resolve({ ok: false, status: 0, reason: err.message }));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve({ ok: true, status, body: text });
          else resolve({ ok: false, status, reason: `HTTP ${status}${statusMessage(text)}` });
        });
      });
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new Error(`no answer from ${this.server.origin} within ${this.timeoutMs} ms`)),
      );
      req.on("error", (err: NodeJS.ErrnoException) =>
        resolve({ ok: false, status: 0, reason: networkReason(err, this.server.origin) }),
      );
      req.end(body);
    });
  }
}

function parseJson<T>(status: number, text: string): RestResult<T> {
  try {
    return { ok: true, status, body: JSON.parse(text) as T };
  } catch {
    return { ok: false, status, reason: `HTTP ${status}: the answer is not JSON` };
  }
}

/** `: <message>` of a Kubernetes Status body, or its first line of text. */
function statusMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: string }).message;
    if (m) return `: ${m}`;
  } catch {
    // not a Status: a proxied endpoint's own text
  }
  const first = text.trim().split("\n")[0]?.slice(0, 200);
  return first ? `: ${first}` : "";
}

function networkReason(err: NodeJS.ErrnoException, origin: string): string {
  if (err.code === "ECONNREFUSED") return `connection refused by ${origin}`;
  if (err.code === "ENOTFOUND") return `cannot resolve ${new URL(origin).hostname}`;
  return `${origin}: ${err.message}`;
}
