/**
 * What the proxy's HTTP/2 servers (an app on the outbound listener, a peer proxy on the inbound one)
 * do with an abusive client: nghttp2 cuts off SETTINGS and PING floods (acknowledgements piling up),
 * CONTINUATION floods and a run of frames the protocol forbids (Node's maxSessionInvalidFrames); this module names the reason, logs
 * it and hands it to the caller to count (http2_session_cut_off_total).
 */
import type http2 from "node:http2";
import type { ServerHttp2Session } from "node:http2";
import { logger } from "../../lib/log.js";
import { MAX_SESSION_MEMORY_MB, SESSION_SETTINGS } from "./sessions.js";

const log = logger("http2-abuse");

/** Why a client was cut off: the `reason` label of http2_session_cut_off_total. */
export type CutOffReason = "flood" | "continuation_flood" | "invalid_frames";

/** The options of an HTTP/2 server the proxy runs. */
export function serverOptions(maxHeaderBytes: number): http2.ServerOptions {
  return {
    settings: { ...SESSION_SETTINGS, maxHeaderListSize: maxHeaderBytes },
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

/** Reports, once, the reason nghttp2 cut a server session off to `onCutOff`, and logs it. */
export function guardSession(session: ServerHttp2Session, onCutOff: (reason: CutOffReason) => void): void {
  let reported = false;
  const report = (reason: CutOffReason, detail: Record<string, unknown> = {}) => {
    if (reported) return;
    reported = true;
    onCutOff(reason);
    log.warn({ reason, remote: session.socket?.remoteAddress, ...detail }, "HTTP/2 client cut off");
  };
  session.on("error", (err) => {
    const reason = reasonOf(err);
    if (reason) report(reason, { err: err.message });
  });
}
