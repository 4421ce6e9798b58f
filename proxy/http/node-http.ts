/**
 * node:http for the proxy, loaded with `require`. An ES module import of a built-in reads every one
 * of its exports, and from Node 22 node:http has lazy exports (WebSocket and friends) backed by the
 * bundled undici: importing it as a module loads undici into every sidecar, megabytes of memory for
 * nothing the proxy uses. Types still come from the module itself.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const http = require("node:http") as typeof import("node:http");
