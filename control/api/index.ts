/**
 * The contracts between the planes: the protos (proto/, the source of truth) and the code buf
 * generates from them (gen/, never edited by hand; `npm run proto` regenerates it). This is the only
 * part of control/ that the proxy, the CLI and viz import, and it imports nothing of ours. The
 * destination API answers where a request goes and how (Get, GetProfile); the identity API issues a
 * proxy's certificate (Certify).
 */
export * as destination from "./gen/trellis/destination/v1/destination.js";
export * as identity from "./gen/trellis/identity/v1/identity.js";
