/**
 * Retry (between the route and balancing, for a retryable route): a failed attempt (an error, or a
 * response its classes or a 5xx call failed) is sent again to a newly picked endpoint while the
 * service's retry budget allows. A body up to 64 KiB is kept to be sent again; a larger one makes the
 * request not retryable. The route's timeout bounds all attempts together.
 */
import { PassThrough, Readable } from "node:stream";
import { ProxyError } from "../errors.js";
import { type Downstream, exchange, type UpstreamResponse, withTimeout } from "../http/exchange.js";
import type { ProxyMetrics, RequestRecorder } from "../metrics/index.js";
import { type CompiledProfile, type CompiledRoute, withRoute } from "../profiles/index.js";
import { MAX_RETRY_BODY_BYTES } from "../profiles/retries.js";
import type { Balance } from "./balance.js";
import type { Connect } from "./connect.js";
import type { Target } from "./endpoint.js";

export class Retry {
  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly balance: Balance,
    private readonly connect: Connect,
  ) {}

  /** Sends a request on a retryable route; each attempt's endpoint is picked anew. */
  send(
    down: Downstream,
    authority: string,
    profile: CompiledProfile,
    route: CompiledRoute,
    routeRec: RequestRecorder | undefined,
  ): void {
    const first = this.balance.target(authority);
    if (first instanceof ProxyError) {
      this.balance.refuse(down, first, route, routeRec);
      return;
    }
    void this.attempts(down, authority, profile, route, first, routeRec);
  }

  private async attempts(
    down: Downstream,
    authority: string,
    profile: CompiledProfile,
    route: CompiledRoute,
    first: Target,
    routeRec: RequestRecorder | undefined,
  ): Promise<void> {
    profile.budget.request();
    const rec = withRoute(this.metrics.request(first.labels), routeRec, route);
    let body: Buffer | undefined;
    let replayable = true;
    if (down.req.body) {
      let kept: Awaited<ReturnType<typeof keepBody>>;
      try {
        kept = await keepBody(down.req.body, MAX_RETRY_BODY_BYTES);
      } catch {
        // The client went away while sending the body: nothing to send, nobody to answer.
        rec.end({ status: 0, failed: true });
        return;
      }
      if (kept.complete) body = kept.buffer;
      else {
        replayable = false;
        down.req.body = kept.stream;
      }
    }
    const failed = (err: ProxyError | undefined, res: UpstreamResponse | undefined) =>
      err !== undefined || !res || (route.isFailure(res.status) ?? res.status >= 500);
    const attempts = this.balance.attempts(authority, first, {
      send: (target, req, cb) => {
        const start = performance.now();
        const again = body ? { ...req, body: Readable.from([body]) } : req;
        return this.connect.upstream(down, target)(again, (err, res) => {
          target.release?.({ ok: !failed(err, res), rttMs: performance.now() - start });
          cb(err, res);
        });
      },
      again: (_target, err, res) => failed(err, res) && replayable && profile.budget.tryRetry(),
      moved: (_from, _to, res) => {
        res?.body.destroy();
        this.metrics.retry(profile.name, route.name);
      },
    });
    exchange(
      down,
      route.timeoutMs ? withTimeout(attempts, route.timeoutMs, `route ${route.name}`) : attempts,
      rec,
    );
  }
}

/** Reads a body up to `max` bytes: all of it when it fits, else a stream that still yields every byte. */
async function keepBody(
  body: Readable,
  max: number,
): Promise<{ complete: true; buffer: Buffer } | { complete: false; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > max) {
      const rest = new PassThrough();
      for (const c of chunks) rest.write(c);
      body.pipe(rest);
      return { complete: false, stream: rest };
    }
  }
  return { complete: true, buffer: Buffer.concat(chunks) };
}
