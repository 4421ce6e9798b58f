/**
 * Asking the destination service as a client would: with given credentials, whether a Get stream
 * yields its first answer or fails (and with which status).
 */
import * as grpc from "@grpc/grpc-js";
import { DestinationClient } from "../../control/api/gen/trellis/destination/v1/destination.js";

/** OK once the first answer arrives, or the status the stream failed with. */
export async function firstAnswer(
  addr: string,
  credentials: grpc.ChannelCredentials,
  authority: string,
  contextNamespace: string,
): Promise<grpc.status> {
  const client = new DestinationClient(addr, credentials);
  try {
    return await new Promise<grpc.status>((resolve) => {
      const call = client.get({ authority, contextNamespace });
      call.on("data", () => {
        resolve(grpc.status.OK);
        call.cancel();
      });
      call.on("error", (err: grpc.ServiceError) => resolve(err.code));
    });
  } finally {
    client.close();
  }
}

/** TLS to the service, trusting `anchorsPem`, presenting `leaf` when given. */
export function meshCredentials(
  anchorsPem: string,
  leaf?: { keyPem: string; certChainPem: string },
  checkServerIdentity: grpc.VerifyOptions["checkServerIdentity"] = () => undefined,
): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(anchorsPem),
    leaf ? Buffer.from(leaf.keyPem) : null,
    leaf ? Buffer.from(leaf.certChainPem) : null,
    { checkServerIdentity },
  );
}
