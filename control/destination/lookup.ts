/**
 * One lookup, answered as a `Get` stream's first message would be, for the admin server's read-only
 * `/endpoints?authority=<host:port>[&namespace=<ns>]`: what `meshctl check` asks through the API server's
 * pod proxy, which carries HTTP/1.1 and never the mesh's gRPC. It resolves the authority with the same
 * rules as the gRPC service (targetOf) and subscribes to the same watcher topic, so it proves what a
 * proxy's Get would see: the informers' view of the Service and its endpoints, their identities.
 */
import { describe, type StreamErrorCode } from "./errors.js";
import { type ServiceOptions, targetOf } from "./service.js";

/** A lookup's answer, as the admin server prints it. */
export interface LookupAnswer {
  authority: string;
  /** Whether the Service exists (a Service with no ready endpoint exists but has none). */
  exists: boolean;
  endpoints: {
    ip: string;
    port: number;
    weight: number;
    /** The SPIFFE ID its proxy presents; empty when not meshed. */
    identity: string;
    labels: Record<string, string>;
  }[];
}

const STATUS: Record<StreamErrorCode, number> = {
  TRELLIS_E_DESTINATION_BAD_AUTHORITY: 400,
  TRELLIS_E_DESTINATION_NO_NAMESPACE: 400,
  TRELLIS_E_DESTINATION_NOT_IN_CLUSTER: 404,
  TRELLIS_E_DESTINATION_STREAM_OVERFLOW: 503,
};

/** The admin route: `/endpoints?authority=...`, 200 with a {@link LookupAnswer}, else 400/404 with the error. */
export function endpointsRoute(
  options: Pick<ServiceOptions, "source" | "clusterDomain" | "watchers">,
): (query: URLSearchParams) => Promise<{ status: number; body: unknown }> {
  return async (query) => {
    const authority = query.get("authority") ?? "";
    const target = targetOf(options, authority, query.get("namespace") ?? "");
    if ("ok" in target)
      return {
        status: STATUS[target.code],
        body: { code: target.code, error: describe(target.code, target.reason) },
      };
    const answer: LookupAnswer = { authority, exists: true, endpoints: [] };
    // The topic answers with its current state at once; the subscription ends right after.
    const unsubscribe = options.watchers.endpoints(target, (updates) => {
      for (const { update } of updates) {
        if (update?.$case === "noEndpoints") answer.exists = update.value.exists;
        if (update?.$case !== "add") continue;
        for (const a of update.value.addrs)
          answer.endpoints.push({
            ip: a.addr?.ip ?? "",
            port: a.addr?.port ?? 0,
            weight: a.weight,
            identity: a.identity,
            labels: { ...update.value.metricLabels, ...a.metricLabels },
          });
      }
    });
    unsubscribe();
    return { status: 200, body: answer };
  };
}
