/**
 * The proxy's transport layer: bytes on sockets, below any HTTP. It owns listening and dialling plain
 * TCP (net.ts), reading a socket into a buffer of one's own with no stream machinery in between
 * (reads.ts), telling HTTP/1, HTTP/2 and anything else apart from a connection's first bytes
 * (detect.ts), the header that opens an opaque stream between proxies and the splice that joins two
 * sockets (opaque.ts), a redirected connection's original destination, read through the native addon
 * built from proxy/native/ (original-dst.ts), the set of accepted connections a listener drains on
 * shutdown (connections.ts), the connections a listener refuses or closes to protect the proxy,
 * counted and logged once per burst (shed.ts), and the mux protocol that carries HTTP/1.1 between proxies (mux/). Of the proxy
 * it imports only config.ts: what it needs of higher layers (a server to drain) it names as an
 * interface that they implement.
 */
export { Connections, type DrainableServer } from "./connections.js";
export { type Detected, detect, handOff, type Protocol } from "./detect.js";
export { connectPlain, listenOn } from "./net.js";
export {
  encodeOpaqueHeader,
  OPAQUE_HEADER_BYTES,
  readOpaqueHeader,
  type SpliceReads,
  splice,
} from "./opaque.js";
export {
  loadOriginalDst,
  type OriginalDst,
  type OriginalDstReader,
  type OriginalDstResult,
} from "./original-dst.js";
export {
  type CallbackReads,
  lazyReads,
  OwnReads,
  READ_BUFFER_BYTES,
  type ReadInto,
  readInto,
  SplicedReads,
} from "./reads.js";
