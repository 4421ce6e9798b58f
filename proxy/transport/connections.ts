/**
 * The connections a listener accepted, so shutdown can drain them: HTTP/2 sessions are told to go
 * away (in-flight streams finish), idle HTTP/1.1 connections are closed, and whatever is still open
 * at the deadline is cut.
 */

import type { Http2Session } from "node:http2";
import type { Duplex } from "node:stream";
import type { Http1Server } from "../http/h1/server.js";

export class Connections {
  private readonly sockets = new Set<Duplex>();
  private readonly sessions = new Set<Http2Session>();
  private readonly http1 = new Set<Http1Server>();
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

  addHttp1Server(server: Http1Server): void {
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
