/**
 * The connections a listener accepted, so shutdown can drain them: HTTP/2 sessions are told to go
 * away (in-flight streams finish), idle HTTP/1.1 connections are closed, and whatever is still open
 * at the deadline is cut.
 */

import type { Http2Session } from "node:http2";
import type { Duplex } from "node:stream";

/**
 * What draining needs of a server that parses its connections itself (the HTTP/1.x relay's
 * `Http1Server`, which the listener hands over).
 */
export interface DrainableServer {
  /** Set when the proxy starts draining: every response from then on closes its connection. */
  draining: boolean;
  /** Closes the connections with no request in flight. */
  closeIdle(): void;
  /** Stops the server's own timers. */
  close(): void;
}

export class Connections {
  private readonly sockets = new Set<Duplex>();
  private readonly sessions = new Set<Http2Session>();
  private readonly http1 = new Set<DrainableServer>();
  private waiters: Array<() => void> = [];

  add(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once("close", () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) {
        for (const w of this.waiters) w();
        this.waiters = [];
      }
    });
  }

  addSession(session: Http2Session): void {
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
  }

  addHttp1Server(server: DrainableServer): void {
    this.http1.add(server);
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Resolves once every connection closed, cutting the rest after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    for (const session of this.sessions) if (!session.closed) session.close();
    for (const server of this.http1) server.draining = true;
    const closeIdle = () => {
      for (const server of this.http1) server.closeIdle();
    };
    closeIdle();
    if (this.sockets.size === 0) {
      for (const server of this.http1) server.close();
      return;
    }
    const idleTimer = setInterval(closeIdle, 100);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    clearInterval(idleTimer);
    for (const server of this.http1) server.close();
    for (const socket of this.sockets) socket.destroy();
  }
}
