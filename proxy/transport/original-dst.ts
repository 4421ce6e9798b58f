/**
 * A redirected connection's original destination: the `ip:port` the app dialled before iptables sent
 * the connection to the proxy (`SO_ORIGINAL_DST`). Node does not expose that socket option, so the
 * proxy's native addon reads it (proxy/native/original_dst.c, built by `npm run build` into
 * dist/proxy/native/). Reading it needs no capability, so the proxy does it as UID 2102.
 *
 * Two things this relies on, both checked by test/proxy/transport/original-dst.test.ts:
 * - the accepted socket's file descriptor, which Node keeps on its internal handle
 *   (`socket._handle.fd`, a number on Linux, -1 or absent elsewhere): not public API;
 * - the addon itself, loaded with process.dlopen from where the build puts it, whether the proxy runs
 *   bundled (dist/proxy/main.js), compiled (dist/proxy/transport/) or from source under tsx.
 *
 * When either is missing (not Linux, no compiler at build time) the reader says why once, and the
 * proxy works as without interception: HTTP routed by Host, opaque TCP only through `bind` listeners.
 */
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

/** The address the app dialled. */
export interface OriginalDst {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** What asking a socket gave: its original destination, none (not redirected), or why it could not be read. */
export type OriginalDstResult =
  | { kind: "redirected"; dst: OriginalDst }
  | { kind: "none" }
  | { kind: "failed"; code: string; message: string };

export interface OriginalDstReader {
  /** Undefined when the reader works; otherwise why every socket reads as `failed`. */
  readonly unavailable: string | undefined;
  /**
   * The socket's original destination. `none` when the kernel has none (ENOENT: conntrack does not
   * track the connection) or it is the socket's own local address (tracked but not redirected).
   */
  read(socket: Socket): OriginalDstResult;
}

/** The addon's one function: throws for a bad fd (TypeError, RangeError, or an errno `code`). */
export interface Addon {
  originalDst(fd: number): OriginalDst | undefined;
}

/** Where the build (proxy/native/build.mjs) puts the addon, relative to the repository or the image's app directory. */
export const ADDON_PATH = "dist/proxy/native/original_dst.node";

/** The same, seen from the bundle (dist/proxy/main.js), the compiled module and the source file. */
const CANDIDATES = ["./native/original_dst.node", "../native/original_dst.node", `../../${ADDON_PATH}`];

export interface LoadOptions {
  platform?: NodeJS.Platform;
  /** Files to try, first found wins; default: the build's places, relative to this module. */
  paths?: string[];
}

/** Loads the addon once; a reader that explains itself when it cannot. */
export function loadOriginalDst(options: LoadOptions = {}): OriginalDstReader {
  const loaded = loadAddon(options);
  return "why" in loaded ? unavailable(loaded.why) : new AddonReader(loaded.addon);
}

/** The addon itself (`originalDst(fd)`, see original_dst.c), or why it cannot be had. */
export function loadAddon(options: LoadOptions = {}): { addon: Addon } | { why: string } {
  const platform = options.platform ?? process.platform;
  if (platform !== "linux") return { why: `SO_ORIGINAL_DST is Linux's, this is ${platform}` };
  const paths = options.paths ?? CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url)));
  const path = paths.find((p) => existsSync(p));
  if (!path)
    return {
      why: `the native addon is not built (looked for ${paths.join(", ")}; \`npm run build\` builds it with a C compiler)`,
    };
  const module = { exports: {} as Partial<Addon> };
  try {
    process.dlopen(module, path);
  } catch (err) {
    return { why: `the native addon ${path} does not load: ${(err as Error).message}` };
  }
  const addon = module.exports;
  if (typeof addon.originalDst !== "function")
    return { why: `the native addon ${path} has no originalDst function` };
  return { addon: addon as Addon };
}

/** The socket's file descriptor, from Node's internal handle; undefined when it has none. */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

class AddonReader implements OriginalDstReader {
  readonly unavailable = undefined;
  constructor(private readonly addon: Addon) {}

  read(socket: Socket): OriginalDstResult {
    const fd = socketFd(socket);
    if (fd === undefined)
      return {
        kind: "failed",
        code: "ENOFD",
        message: "the socket has no file descriptor (closed, or Node no longer exposes _handle.fd)",
      };
    let dst: OriginalDst | undefined;
    try {
      dst = this.addon.originalDst(fd);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { kind: "failed", code: e.code ?? "EUNKNOWN", message: e.message };
    }
    if (!dst) return { kind: "none" };
    // A dual-stack listener's IPv4 client has an IPv4-mapped local address.
    const local = socket.localAddress?.replace(/^::ffff:(?=\d+\.)/i, "");
    if (dst.address === local && dst.port === socket.localPort) return { kind: "none" };
    return { kind: "redirected", dst };
  }
}

function unavailable(why: string): OriginalDstReader {
  return {
    unavailable: why,
    read: () => ({ kind: "failed", code: "EUNAVAILABLE", message: why }),
  };
}
