/**
 * What the HTTP/1.1 relay uses of a connection: a socket, or a stream of the mux connection
 * between two proxies (transport/mux/), which behaves the same for these.
 */
export interface Conn {
  readonly destroyed: boolean;
  /**
   * What carries the connection is going away (a mux stream whose connection got GOAWAY): an idle
   * one takes no new exchange. Absent on a socket.
   */
  readonly closing?: boolean;
  write(data: string | Uint8Array, encoding?: BufferEncoding): boolean;
  end(data?: string | Uint8Array): unknown;
  /** Holds writes until `uncork`, to leave in one. */
  cork(): void;
  uncork(): void;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): unknown;
  on(event: "end" | "drain", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  once(event: "close" | "drain" | "connect" | "secureConnect", listener: () => void): unknown;
  off(event: "end" | "drain", listener: () => void): unknown;
}
