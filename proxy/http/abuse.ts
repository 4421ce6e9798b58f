/**
 * What the proxy's HTTP/2 servers (an app on the outbound listener, a peer proxy on the inbound one)
 * do with an abusive client. nghttp2 cuts off SETTINGS and PING floods whose acknowledgements pile
 * up, CONTINUATION floods, a run of frames the protocol forbids (Node's maxSessionInvalidFrames) and
 * streams past SETTINGS_MAX_CONCURRENT_STREAMS; this module names the reason. It applies itself what
 * Node leaves to the application: budgets of SETTINGS and PING frames (a client that reads every
 * acknowledgement is never cut off by nghttp2), a budget of streams the client resets before their
 * response is complete (rapid reset, CVE-2023-44487), and a deadline for a response the client's
 * flow-control window keeps from being written. Every cut off is logged and handed to the caller to count
 * (http2_session_cut_off_total).
 */
import http2, { type Http2Stream, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";
import { logger } from "../../lib/log.js";
import type { Http2Limits } from "../config.js";
import { MAX_SESSION_MEMORY_MB, SESSION_SETTINGS } from "./sessions.js";

const log = logger("http2-abuse");
const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** The window over which a client's resets (Http2Limits.maxResets), SETTINGS and PINGs are counted. */
export const BUDGET_WINDOW_MS = 10_000;
/**
 * SETTINGS and PING frames a client may send per window. A client sends SETTINGS a few times per
 * session and PINGs to check liveness or measure bandwidth, a few per second at most (gRPC's BDP
 * probes); a flood sends thousands.
 */
export const MAX_SETTINGS_FRAMES = 100;
export const MAX_PING_FRAMES = 1_000;

/** Events counted in windows of BUDGET_WINDOW_MS, against a budget of `max` per window. */
class WindowedCount {
  private n = 0;
  private start = Date.now();
  constructor(private readonly max: number) {}

  add(): void {
    this.roll();
    this.n++;
  }

  /** Whether the current window's count is past the budget. */
  get past(): boolean {
    this.roll();
    return this.n > this.max;
  }

  get count(): number {
    return this.n;
  }

  private roll(): void {
    const now = Date.now();
    if (now - this.start < BUDGET_WINDOW_MS) return;
    this.start = now;
    this.n = 0;
  }
}

/** Why a client was cut off: the `reason` label of http2_session_cut_off_total. */
export type CutOffReason =
  | "flood"
  | "continuation_flood"
  | "invalid_frames"
  | "too_many_streams"
  | "rapid_reset"
  | "stalled";

/** The options of an HTTP/2 server the proxy runs. */
export function serverOptions(maxHeaderBytes: number, limits: Http2Limits): http2.ServerOptions {
  return {
    settings: {
      ...SESSION_SETTINGS,
      maxHeaderListSize: maxHeaderBytes,
      maxConcurrentStreams: limits.maxConcurrentStreams,
    },
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
  };
}

/** The reason nghttp2 or Node gave for ending a session, when it is one of the limits nghttp2 applies. */
function reasonOf(err: Error & { code?: string }): CutOffReason | undefined {
  if (/flooding/i.test(err.message)) return "flood";
  if (/CONTINUATION/.test(err.message)) return "continuation_flood";
  if (err.code === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES") return "invalid_frames";
  return undefined;
}

interface Guard {
  limits: Http2Limits;
  /** Resets `stream`, which the client kept from being written, and tells the client to go away. */
  stalled(stream: ServerHttp2Stream): void;
}

const guards = new WeakMap<ServerHttp2Session, Guard>();
/** Streams the proxy reset itself: their 'aborted' is no reset by the client. */
const resetByProxy = new WeakSet<Http2Stream>();

/** Resets a server stream from the proxy's side (not counted against the client's reset budget). */
export function resetStream(stream: Http2Stream, code: number): void {
  resetByProxy.add(stream);
  stream.close(code);
}

/**
 * Watches a guarded session's client for abuse: reports, once, the reason it was cut off to
 * `onCutOff` and logs it. A client past MAX_SETTINGS_FRAMES or MAX_PING_FRAMES in BUDGET_WINDOW_MS,
 * or that opens a stream after more than `limits.maxResets` resets in it, is cut off with a GOAWAY
 * (ENHANCE_YOUR_CALM); a client whose window kept a response (see watchStall) from being written for
 * `limits.stallTimeoutMs` has that stream reset and is told to go away (the session closes once its
 * other streams end).
 */
export function guardSession(
  session: ServerHttp2Session,
  limits: Http2Limits,
  onCutOff: (reason: CutOffReason) => void,
): void {
  let reported = false;
  const report = (reason: CutOffReason, detail: Record<string, unknown> = {}) => {
    if (reported) return;
    reported = true;
    onCutOff(reason);
    log.warn({ reason, remote: session.socket?.remoteAddress, ...detail }, "HTTP/2 client cut off");
  };
  /** Reports the cut off and destroys the session with a GOAWAY ENHANCE_YOUR_CALM. */
  const cutOff = (reason: CutOffReason, detail: Record<string, unknown>) => {
    report(reason, { ...detail, windowMs: BUDGET_WINDOW_MS });
    // The error is reported already; it only carries the GOAWAY's code (without one Node sends NO_ERROR).
    session.destroy(new Error(reason), NGHTTP2_ENHANCE_YOUR_CALM);
  };
  const settingsFrames = new WindowedCount(MAX_SETTINGS_FRAMES);
  session.on("remoteSettings", () => {
    settingsFrames.add();
    if (settingsFrames.past) cutOff("flood", { frame: "SETTINGS", frames: settingsFrames.count });
  });
  const pings = new WindowedCount(MAX_PING_FRAMES);
  session.on("ping", () => {
    pings.add();
    if (pings.past) cutOff("flood", { frame: "PING", frames: pings.count });
  });
  // Streams open, as the client left them: once the session is destroyed its streams close with it,
  // and the count stays what it was when nghttp2 gave up.
  let open = 0;
  const resets = new WindowedCount(limits.maxResets);
  session.on("stream", (stream) => {
    // A session ending in an error destroys its streams with it, some before they are handed over: a
    // stream the listener does not serve (aborted already, or cut off here) needs a listener too.
    stream.on("error", () => {});
    // Past the budget, a new stream is the attack: a client that resets its streams on its way out
    // (destroying its session) opens none, and is not cut off.
    if (resets.past) {
      cutOff("rapid_reset", { resets: resets.count });
      return;
    }
    open++;
    stream.once("close", () => {
      if (!session.destroyed) open--;
    });
    const countReset = () => {
      if (!session.destroyed && !resetByProxy.has(stream)) resets.add();
    };
    // Node emits 'stream' on the next tick: a RST_STREAM read with the HEADERS has aborted it already.
    if (stream.aborted) countReset();
    else stream.once("aborted", countReset);
  });
  session.on("error", (err) => {
    // Opening a stream past the limit ends the session (a protocol error once the client acknowledged
    // the limit; refused streams, counted as invalid frames, before): the client holds them all.
    const reason = open >= limits.maxConcurrentStreams ? "too_many_streams" : reasonOf(err);
    if (reason) report(reason, { err: err.message, streams: open });
  });
  guards.set(session, {
    limits,
    stalled(stream) {
      resetStream(stream, NGHTTP2_CANCEL);
      report("stalled", { stream: stream.id, stallTimeoutMs: limits.stallTimeoutMs });
      if (!session.closed) session.close();
    },
  });
}

/**
 * Resets a response stream of a guarded session that could not hand its data on for the session's
 * stall timeout: the body waits on `stream` (the client's flow-control window is shut, or it stopped
 * reading), either paused by the pipe or ended with data still queued. A response slow to come from
 * upstream is no stall; only a client that does not take what is ready.
 */
export function watchStall(stream: ServerHttp2Stream, body: Readable): void {
  const guard = guards.get(stream.session as ServerHttp2Session);
  if (!guard) return;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      // Any progress (drain, finish, close) disarmed it: the data has waited the whole time.
      if (!stream.destroyed) guard.stalled(stream);
    }, guard.limits.stallTimeoutMs);
  };
  const disarm = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  body.on("pause", () => {
    if (stream.writableNeedDrain) arm();
  });
  body.once("end", () => {
    if (stream.writableLength > 0) arm();
  });
  stream.on("drain", disarm);
  stream.once("finish", disarm);
  stream.once("close", disarm);
}
