/**
 * The mux protocol: many byte streams over one connection, which is how HTTP/1.1 crosses between two
 * proxies. Each stream is a virtual connection that the HTTP/1.1 relay uses as it would a socket (the
 * client pool keeps them alive, the server parses them), and the streams' writes in one turn of the
 * event loop leave together. The module owns the wire format (frame.ts), a stream with its flow
 * control (stream.ts), a connection carrying streams over one socket (connection.ts) and the client
 * side that keeps one connection to a peer (client.ts). Users import from here; docs/mux-protocol.md
 * is the protocol's specification.
 */
export { MuxClient, type MuxClientOptions } from "./client.js";
export { MuxConnection, type MuxConnectionOptions, MuxProtocolError } from "./connection.js";
export {
  FIN,
  FRAME,
  HEADER_BYTES,
  INITIAL_WINDOW,
  MAX_FRAME_PAYLOAD,
  MAX_STREAMS,
  RESET_CODE,
} from "./frame.js";
export { MUX_READY, MuxResetError, MuxStream } from "./stream.js";
