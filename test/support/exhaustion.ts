/**
 * What the resource-exhaustion tests (test/integration/exhaustion.test.ts) attack the proxy with and
 * measure it by: the descriptor limit, many raw connections that say nothing or half of something,
 * and raw mux frames (RSS and mesh peers' connections: ./sockets.ts).
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { hostPort } from "./sockets.js";

/** This process's soft limit of open files (`ulimit -n`); the proxies it starts inherit it. */
export function openFilesLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? 1_000_000 : Number(soft);
}

/** What an attacking connection sends before it goes quiet. */
export type Quiet = "nothing" | "half-request" | "half-client-hello";

/** The start of a TLS ClientHello: a record header announcing 512 bytes, and a few of them. */
export const HALF_CLIENT_HELLO = Buffer.from([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00,
  0x01,
  0x00,
  0x01,
  0xfc,
  0x03,
  0x03,
  ...Array.from({ length: 20 }, (_, i) => i),
]);
export const HALF_REQUEST = "GET / HTTP/1.1\r\nHost: attacker.test\r\nX-Wait: ";

function bytesOf(quiet: Quiet): string | Buffer | undefined {
  if (quiet === "half-request") return HALF_REQUEST;
  if (quiet === "half-client-hello") return HALF_CLIENT_HELLO;
  return undefined;
}

/** Attacking connections: each resolves `closed` once the proxy closed it (or refused it on accept). */
export interface Attack {
  sockets: net.Socket[];
  closed: Promise<void>[];
  /** Connections that were closed before they sent anything (refused on accept). */
  openNow(): number;
  destroy(): void;
}

/**
 * Opens `count` connections to `address`, `batch` at a time, each sending what `quiet` says and
 * then nothing. A connection the proxy refuses is closed by it at once; that is not an error here.
 */
export async function openQuiet(
  address: string,
  count: number,
  quietOf: (i: number) => Quiet,
  batch = 100,
): Promise<Attack> {
  const { host, port } = hostPort(address);
  const sockets: net.Socket[] = [];
  const closed: Promise<void>[] = [];
  for (let at = 0; at < count; at += batch) {
    const opened: Promise<void>[] = [];
    for (let i = at; i < Math.min(count, at + batch); i++) {
      const socket = net.connect({ host, port });
      socket.on("error", () => {});
      socket.on("data", () => {}); // an answer (408) is read and dropped
      closed.push(new Promise((resolve) => socket.once("close", () => resolve())));
      opened.push(
        new Promise((resolve) => {
          socket.once("connect", () => {
            const bytes = bytesOf(quietOf(i));
            if (bytes !== undefined) socket.write(bytes);
            resolve();
          });
          socket.once("close", () => resolve());
        }),
      );
      sockets.push(socket);
    }
    await Promise.all(opened);
  }
  return {
    sockets,
    closed,
    openNow: () => sockets.filter((s) => !s.destroyed).length,
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** One mux frame, as docs/mux-protocol.md lays it out. */
export function muxFrame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header[1] = flags;
  header.writeUInt16BE(payload.length, 2);
  header.writeUInt32BE(stream, 4);
  return Buffer.concat([header, payload]);
}

/** Counts the RESET frames (by code) a mux peer receives, reading frames off `socket`. */
export function countResets(socket: net.Socket): Map<number, number> {
  const resets = new Map<number, number>();
  let buffered = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 8) {
      const length = buffered.readUInt16BE(2);
      if (buffered.length < 8 + length) break;
      if (buffered[0] === 2 && length === 4) {
        const code = buffered.readUInt32BE(8);
        resets.set(code, (resets.get(code) ?? 0) + 1);
      }
      buffered = buffered.subarray(8 + length);
    }
  });
  return resets;
}

/** Samples `value` every `everyMs` until it has not changed for `stableSamples` samples in a row. */
export async function whenSettled(
  value: () => number,
  { everyMs = 250, stableSamples = 6, timeoutMs = 60_000 } = {},
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = value();
  let stable = 0;
  while (stable < stableSamples && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = value();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}
