/**
 * Connections a listener sheds to protect the proxy: one refused because the listener holds its
 * maximum (`net.Server.maxConnections`, so the kernel's accept queue keeps draining and the socket is
 * closed before any of our code runs), or closed because it did not finish its handshake, its
 * protocol detection or its request head in time. Each is handed to the caller to count
 * (tcp_connection_shed_total) and logged once per burst: an attack of thousands of connections
 * writes one line when it starts and one summary line per BURST_LOG_MS while it lasts, never one
 * per connection.
 */
import type { Server } from "node:net";
import { type Logger, logger } from "../../lib/log.js";

/** The proxy's listeners, the `listener` label of tcp_connection_shed_total. */
export type Listener = "inbound" | "outbound" | "admin";

/** Why a connection was shed, the `reason` label of tcp_connection_shed_total. */
export type ShedReason =
  /** The listener held its maximum of connections: closed as it was accepted. */
  | "max_connections"
  /** The TLS handshake did not finish within TRELLIS_PROXY_TLS_HANDSHAKE_TIMEOUT_MS. */
  | "handshake_timeout"
  /** The TLS handshake failed (not TLS, no client certificate, an untrusted one...). */
  | "handshake_failed"
  /** The first bytes did not say what the client speaks within TRELLIS_PROXY_DETECT_TIMEOUT_MS. */
  | "detect_timeout"
  /** A request head started and did not end within TRELLIS_PROXY_DETECT_TIMEOUT_MS (answered 408). */
  | "header_timeout"
  /** The app's first bytes are not HTTP, on a listener that takes only HTTP. */
  | "not_http";

/** How often a burst of shed connections is summed up in the log, ms. */
export const BURST_LOG_MS = 10_000;

/**
 * Logs the first event at once and, while more follow, one line per `windowMs` with their count;
 * quiet again once a window passes without one.
 */
export class BurstLog {
  private more = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly fields: Record<string, unknown>,
    private readonly windowMs = BURST_LOG_MS,
  ) {}

  event(detail: Record<string, unknown> = {}): void {
    if (this.timer) {
      this.more++;
      return;
    }
    this.log.warn(
      { ...this.fields, ...detail },
      `${this.message} (more are counted and logged once per ${this.windowMs / 1000} s)`,
    );
    this.timer = setTimeout(this.flush, this.windowMs);
    this.timer.unref();
  }

  private readonly flush = (): void => {
    if (this.more === 0) {
      this.timer = undefined;
      return;
    }
    this.log.warn({ ...this.fields, count: this.more, windowMs: this.windowMs }, `${this.message}: more`);
    this.more = 0;
    this.timer = setTimeout(this.flush, this.windowMs);
    this.timer.unref();
  };

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

const MESSAGES: Record<ShedReason, string> = {
  max_connections: "connection refused: the listener holds its maximum of connections",
  handshake_timeout: "connection closed: no TLS handshake in time",
  handshake_failed: "connection closed: the TLS handshake failed",
  detect_timeout: "connection closed: the client sent nothing that says what it speaks in time",
  header_timeout: "connection closed: a request head did not arrive in time (408)",
  not_http: "connection closed: the app's connection is not HTTP",
};

/** One listener's shed connections: counted through `onShed`, logged per burst and reason. */
export class Shedding {
  private readonly bursts = new Map<ShedReason, BurstLog>();
  private readonly log: Logger;

  constructor(
    readonly listener: Listener,
    private readonly onShed: (listener: Listener, reason: ShedReason) => void,
    windowMs = BURST_LOG_MS,
  ) {
    this.log = logger(listener);
    for (const reason of Object.keys(MESSAGES) as ShedReason[])
      this.bursts.set(reason, new BurstLog(this.log, MESSAGES[reason], { listener, reason }, windowMs));
  }

  /** Counts and logs one shed connection. */
  shed(reason: ShedReason, detail: Record<string, unknown> = {}): void {
    this.onShed(this.listener, reason);
    this.bursts.get(reason)?.event(detail);
  }

  /** Holds `server` to `max` connections at once; each one past it is closed on accept and shed. */
  limit(server: Server, max: number): void {
    server.maxConnections = max;
    server.on("drop", (data?: { remoteAddress?: string }) =>
      this.shed("max_connections", { max, remote: data?.remoteAddress }),
    );
  }

  close(): void {
    for (const burst of this.bursts.values()) burst.close();
  }
}
