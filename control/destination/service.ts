/**
 * The gRPC adapter: Get and GetProfile streams subscribe to the watchers and write what they are given.
 * Each stream has a bounded queue (the messages grpc-js holds for it because the client is not
 * reading); when a message would go past the bound the stream is reset with ENHANCE_YOUR_CALM (the
 * client sees RESOURCE_EXHAUSTED), counted, and its memory released: the proxy reconnects and starts
 * from a fresh full state. This is the one place that turns refusals into gRPC statuses.
 */
import { constants as http2 } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import type { Refusal } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import type {
  DestinationProfile,
  DestinationServer,
  GetDestination,
  Update,
} from "../api/gen/trellis/destination/v1/destination.js";
import { describe, grpcStatusOf, refuse, type StreamErrorCode } from "./errors.js";
import type { DestinationMetrics, Rpc } from "./metrics.js";
import { parseAuthority, type Target } from "./names.js";
import type { Source } from "./source.js";
import type { Watchers } from "./watchers.js";

export interface ServiceOptions {
  source: Source;
  watchers: Watchers;
  metrics: DestinationMetrics;
  clusterDomain: string;
  /** Messages a stream may have waiting for its client before it is closed. */
  streamQueueCapacity: number;
  log: Logger;
}

export const DEFAULT_STREAM_QUEUE_CAPACITY = 100;

/**
 * What a request names, or why it is refused: an authority that does not parse, or an IP that is neither
 * a ClusterIP nor an endpoint's. Shared by the gRPC streams and the admin server's `/endpoints`.
 */
export function targetOf(
  options: Pick<ServiceOptions, "source" | "clusterDomain">,
  authority: string,
  contextNamespace: string,
): Target | Refusal<StreamErrorCode> {
  const target = parseAuthority(authority, contextNamespace, options.clusterDomain);
  if ("ok" in target) return target;
  const known = options.source.current();
  if (target.kind === "ip" && !known.clusterIPs.has(target.ip) && !known.endpointIPs.has(target.ip))
    return refuse(
      "TRELLIS_E_DESTINATION_NOT_IN_CLUSTER",
      `${target.ip} is neither a ClusterIP nor an endpoint's IP`,
    );
  return target;
}

type Subscribe<M> = (target: Target, request: GetDestination, send: (messages: M[]) => void) => () => void;

export function destinationServer(options: ServiceOptions): DestinationServer {
  return {
    get: (call) =>
      serve<Update>(options, "Get", call, (target, _request, send) =>
        options.watchers.endpoints(target, send),
      ),
    getProfile: (call) =>
      serve<DestinationProfile>(options, "GetProfile", call, (target, request, send) =>
        options.watchers.profile(target, request.contextNamespace, send),
      ),
  };
}

function serve<M>(
  options: ServiceOptions,
  rpc: Rpc,
  call: grpc.ServerWritableStream<GetDestination, M>,
  subscribe: Subscribe<M>,
): void {
  const { metrics, log } = options;
  const request = call.request;
  const peer = call.getPeer();
  const refuse = (code: StreamErrorCode, reason: string) => {
    metrics.refused.inc({ rpc, code });
    log.debug({ peer, rpc, code, authority: request.authority.slice(0, 300) }, `refused ${rpc}: ${reason}`);
    call.emit("error", { code: grpcStatusOf(code), details: describe(code, reason) });
  };
  const target = targetOf(options, request.authority, request.contextNamespace);
  if ("ok" in target) {
    refuse(target.code, target.reason);
    return;
  }

  metrics.streams.inc({ rpc });
  let open = true;
  let unsubscribe: (() => void) | undefined;
  const close = () => {
    if (!open) return;
    open = false;
    unsubscribe?.();
    metrics.streams.dec({ rpc });
  };
  const overflow = () => {
    metrics.overflows.inc({ rpc });
    log.warn(
      { peer, rpc, authority: request.authority, queued: call.writableLength },
      describe("TRELLIS_E_DESTINATION_STREAM_OVERFLOW", "the client is not reading; closing the stream"),
    );
    close();
    // Trailers would queue behind the data the client is not reading: reset the HTTP/2 stream instead.
    const stream = http2StreamOf(call);
    if (stream) stream.close(http2.NGHTTP2_ENHANCE_YOUR_CALM);
    else
      call.emit("error", {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: describe("TRELLIS_E_DESTINATION_STREAM_OVERFLOW", "the client is not reading"),
      });
    call.destroy();
  };
  unsubscribe = subscribe(target, request, (messages) => {
    for (const m of messages) {
      if (!open) return;
      if (call.writableLength >= options.streamQueueCapacity) {
        overflow();
        return;
      }
      call.write(m);
      metrics.messages.inc({ rpc });
    }
  });
  if (!open) unsubscribe();
  call.on("cancelled", close);
  call.on("close", close);
  call.on("error", close);
}

interface ResettableStream {
  close(code: number): void;
  rstCode?: number;
}

/** The HTTP/2 stream under a grpc-js server call (not public API; undefined if its shape changes). */
function http2StreamOf(call: object): ResettableStream | undefined {
  let node: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 5 && node && typeof node === "object"; depth++) {
    const stream = (node as { stream?: unknown }).stream;
    if (stream && typeof (stream as ResettableStream).close === "function") return stream as ResettableStream;
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
