/**
 * Linkerd's transport metrics, per connection: opened, open, closed (with its errno), and the bytes
 * read and written. Bytes are counted at each scrape while a connection is open, so a long-lived
 * connection shows its traffic as it flows (viz's bytes/s), and the rest when it closes; nothing is
 * added on the data path.
 */
import type { Socket } from "node:net";
import type { Registry } from "./exposition.js";
import { SeriesCounter, SeriesGauge } from "./series.js";

interface OpenConnection {
  key: string;
  labels: () => Record<string, string>;
  /** Bytes read and written already counted. */
  read: number;
  written: number;
}

export class TcpMetrics {
  private readonly opened: SeriesCounter;
  private readonly closed: SeriesCounter;
  private readonly openNow: SeriesGauge;
  private readonly read: SeriesCounter;
  private readonly written: SeriesCounter;
  private readonly open = new Map<Socket, OpenConnection>();

  constructor(registry: Registry) {
    // A quiet connection's series stay while it is open: only a closed one's may be swept.
    const open = (key: string) => this.openNow.current(key) > 0;
    this.opened = new SeriesCounter("tcp_open_total", "Total count of opened connections.", registry, open);
    this.closed = new SeriesCounter("tcp_close_total", "Total count of closed connections.", registry);
    this.openNow = new SeriesGauge("tcp_open_connections", "Number of currently-open connections.", registry);
    this.read = new SeriesCounter(
      "tcp_read_bytes_total",
      "Total count of bytes read from peers.",
      registry,
      open,
    );
    this.written = new SeriesCounter(
      "tcp_write_bytes_total",
      "Total count of bytes written to peers.",
      registry,
      open,
    );
  }

  /** Counts `socket` from open to close under `labels`, one series `key` for all five families. */
  connection(key: string, labels: Record<string, string>, socket: Socket): void {
    const fullLabels = () => labels;
    this.opened.inc(key, fullLabels);
    this.openNow.inc(key, fullLabels);
    // The byte series exist from the connection's start, at 0 until bytes are counted.
    this.read.inc(key, fullLabels, 0);
    this.written.inc(key, fullLabels, 0);
    const open: OpenConnection = { key, labels: fullLabels, read: 0, written: 0 };
    this.open.set(socket, open);
    let errno: string | undefined;
    socket.once("error", (err: NodeJS.ErrnoException) => {
      errno = err.code ?? "error";
    });
    socket.once("close", () => {
      this.open.delete(socket);
      this.openNow.dec(key, fullLabels);
      const classification = errno ? "failure" : "success";
      this.closed.inc(`${key}|${classification}|${errno ?? ""}`, () => ({
        ...labels,
        classification,
        ...(errno ? { errno } : {}),
      }));
      this.countBytes(socket, open);
    });
  }

  /** Counts the bytes open connections carried since the last scrape. */
  beforeScrape(): void {
    for (const [socket, open] of this.open) this.countBytes(socket, open);
  }

  private countBytes(socket: Socket, open: OpenConnection): void {
    const read = socket.bytesRead;
    const written = socket.bytesWritten ?? 0;
    if (read > open.read) this.read.inc(open.key, open.labels, read - open.read);
    if (written > open.written) this.written.inc(open.key, open.labels, written - open.written);
    open.read = Math.max(open.read, read);
    open.written = Math.max(open.written, written);
  }
}
