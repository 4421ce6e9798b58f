/**
 * A server stream from the destination service that survives the service: when it fails or ends it
 * is opened again after a jittered backoff, and the caller keeps what it last received meanwhile.
 * NOT_FOUND (an address that is neither a ClusterIP nor a pod's, a name outside the cluster) is an
 * answer, passed to `onNotFound`, and asked again with the same backoff: the address may become known.
 */
import * as grpc from "@grpc/grpc-js";
import { Backoff } from "../../lib/backoff.js";
import { logger } from "../../lib/log.js";

const log = logger("discovery");

export interface ResilientStreamOptions {
  retryBaseMs: number;
  retryMaxMs: number;
}

export class ResilientStream<T> {
  private call: grpc.ClientReadableStream<T> | undefined;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly what: string,
    private readonly open: () => grpc.ClientReadableStream<T>,
    private readonly onMessage: (message: T) => void,
    options: ResilientStreamOptions,
    private readonly onNotFound: () => void = () => {},
  ) {
    this.backoff = new Backoff(options.retryBaseMs, options.retryMaxMs);
    this.start();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.cancel();
  }

  private start(): void {
    const call = this.open();
    this.call = call;
    call.on("data", (message: T) => {
      this.backoff.reset();
      this.onMessage(message);
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (this.closed || err.code === grpc.status.CANCELLED) return;
      if (err.code === grpc.status.NOT_FOUND) this.onNotFound();
      this.restart(
        `${grpc.status[err.code] ?? err.code}: ${err.details}`,
        err.code === grpc.status.NOT_FOUND,
      );
    });
    call.on("end", () => {
      if (!this.closed) this.restart("the stream ended");
    });
  }

  private restart(why: string, answered = false): void {
    if (this.call === undefined || this.closed) return;
    this.call = undefined;
    const delay = this.backoff.next();
    if (answered)
      log.debug({ stream: this.what, why, retryMs: Math.round(delay) }, "not known; asking again later");
    else
      log.warn(
        { stream: this.what, why, retryMs: Math.round(delay) },
        "destination stream lost; keeping the last state",
      );
    this.timer = setTimeout(() => this.start(), delay);
  }
}
