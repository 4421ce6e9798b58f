/**
 * HTTP/2 client sessions, one per peer, shared by every request to it. A session is made on first
 * use (concurrent first requests wait for the same connect) and forgotten when it closes, fails or
 * is told to go away, so the next request connects again.
 */
import http2, {
  type ClientHttp2Session,
  type Http2Session,
  type Http2Stream,
  type ServerHttp2Session,
} from "node:http2";
import type { Duplex } from "node:stream";
import { logger } from "../../lib/log.js";
import { connectError, type ProxyError } from "../errors.js";

const log = logger("sessions");

/** Flow-control windows sized for streaming large bodies between proxies without stalls. */
export const SESSION_SETTINGS: http2.Settings = {
  initialWindowSize: 1 << 20,
  maxHeaderListSize: 64 * 1024,
  enablePush: false,
};
const CONNECTION_WINDOW_BYTES = 16 << 20;
export const MAX_SESSION_MEMORY_MB = 64;

/**
 * Closes a server session whose client sent no SETTINGS (after its preface) within `timeoutMs`:
 * Node's HTTP/2 server has no such deadline, so a client trickling its preface would hold the
 * connection forever.
 */
export function settingsDeadline(session: ServerHttp2Session, timeoutMs: number): void {
  const timer = setTimeout(() => session.destroy(), timeoutMs);
  const clear = () => clearTimeout(timer);
  session.once("remoteSettings", clear);
  session.once("close", clear);
}

/** Streams open on each session, counted as they open and close (Node keeps no public count). */
const openStreams = new WeakMap<Http2Session, number>();

/** Counts `stream` as open on `session` until it closes. */
export function countStream(session: Http2Session, stream: Http2Stream): void {
  openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
  stream.once("close", () => openStreams.set(session, (openStreams.get(session) ?? 1) - 1));
}

/**
 * Closes the session with a GOAWAY once `idleMs` have passed without a frame while no stream was open.
 * A session with a stream open stays however quiet the stream is (a gRPC watch).
 */
export function closeWhenIdle(session: Http2Session, idleMs: number): void {
  // The timer restarts on every frame and fires once per quiet spell; setTimeout's own callback would
  // be a once-listener, gone after a spell with a stream open.
  session.setTimeout(idleMs);
  session.on("timeout", () => {
    if (!openStreams.get(session) && !session.closed) session.close();
  });
}

/**
 * A server session closes once idle: a client done with it (HTTP/2 clients reconnect when they need
 * to), or one sending a HEADERS frame a byte at a time, which Node's HTTP/2 server would wait on
 * forever (a partial frame is no activity to it). The GOAWAY names the last stream taken, so a client
 * knows what it may send again.
 */
export function idleSessionDeadline(session: ServerHttp2Session, idleMs: number): void {
  session.on("stream", (stream) => countStream(session, stream));
  closeWhenIdle(session, idleMs);
}

/**
 * How long a client session to a peer proxy or an app stays without a stream: half the inbound
 * listener's 120 s, as for mux connections, so between proxies the client closes first and its
 * requests do not race the server's GOAWAY.
 */
export const CLIENT_IDLE_TIMEOUT_MS = 60_000;

/** Gets a ready session (possibly connecting first) or the reason there is none. */
export type SessionSource = (cb: (err: ProxyError | undefined, session?: ClientHttp2Session) => void) => void;

type Pending = Array<(err: ProxyError | undefined, session?: ClientHttp2Session) => void>;

export class SessionPool {
  private readonly sessions = new Map<string, ClientHttp2Session>();
  private readonly pending = new Map<string, Pending>();
  private closing = false;

  /** `connect` opens the transport (plain TCP or verified mTLS) to the peer named by `key`. */
  constructor(
    private readonly connect: (key: string) => Promise<Duplex>,
    private readonly idleMs = CLIENT_IDLE_TIMEOUT_MS,
  ) {}

  /** A SessionSource for one peer. */
  source(key: string): SessionSource {
    return (cb) => this.get(key, cb);
  }

  get(key: string, cb: (err: ProxyError | undefined, session?: ClientHttp2Session) => void): void {
    const session = this.sessions.get(key);
    if (session && !session.closed && !session.destroyed) {
      cb(undefined, session);
      return;
    }
    const waiting = this.pending.get(key);
    if (waiting) {
      waiting.push(cb);
      return;
    }
    const queue: Pending = [cb];
    this.pending.set(key, queue);
    this.connect(key).then(
      (socket) => {
        let s: ClientHttp2Session;
        try {
          // The transport is already connected; the URL only fills defaults every request overrides.
          s = http2.connect("http://peer.invalid", {
            createConnection: () => socket,
            settings: SESSION_SETTINGS,
            maxSessionMemory: MAX_SESSION_MEMORY_MB,
          });
        } catch (err) {
          this.pending.delete(key);
          socket.destroy();
          const error = connectError(err, key);
          for (const waiter of queue) waiter(error);
          return;
        }
        s.once("connect", () => s.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
        closeWhenIdle(s, this.idleMs);
        const forget = () => {
          if (this.sessions.get(key) === s) this.sessions.delete(key);
        };
        s.once("close", forget);
        s.once("goaway", forget);
        s.on("error", (err) => {
          forget();
          log.debug({ peer: key, err: err.message }, "session error");
        });
        if (this.closing) s.close();
        else this.sessions.set(key, s);
        this.pending.delete(key);
        for (const waiter of queue) waiter(undefined, s);
      },
      (err) => {
        this.pending.delete(key);
        const error = connectError(err, key);
        for (const waiter of queue) waiter(error);
      },
    );
  }

  /** Closes every session gracefully: in-flight streams finish, no new ones start. */
  close(): void {
    this.closing = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  get size(): number {
    return this.sessions.size;
  }
}
