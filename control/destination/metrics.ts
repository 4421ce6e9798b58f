/**
 * The destination service's metrics, in a registry of its own: open streams, streams refused and
 * closed for falling behind, messages sent, and resources the source refused.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

export type Rpc = "Get" | "GetProfile";

export class DestinationMetrics {
  readonly registry = new Registry();
  readonly streams: Gauge<"rpc">;
  readonly overflows: Counter<"rpc">;
  readonly refused: Counter<"rpc" | "code">;
  readonly messages: Counter<"rpc">;
  readonly resourceRefusals: Counter<"code">;

  constructor() {
    const registers = [this.registry];
    this.streams = new Gauge({
      name: "destination_streams",
      help: "Open Get and GetProfile streams",
      labelNames: ["rpc"] as const,
      registers,
    });
    this.overflows = new Counter({
      name: "destination_stream_overflows_total",
      help: "Streams closed because their queue overflowed (the client did not read)",
      labelNames: ["rpc"] as const,
      registers,
    });
    this.refused = new Counter({
      name: "destination_streams_refused_total",
      help: "Streams ended at once, by TRELLIS_E_DESTINATION_* code (bad authority, not in the cluster)",
      labelNames: ["rpc", "code"] as const,
      registers,
    });
    this.messages = new Counter({
      name: "destination_messages_sent_total",
      help: "Update and DestinationProfile messages queued to streams",
      labelNames: ["rpc"] as const,
      registers,
    });
    this.resourceRefusals = new Counter({
      name: "destination_resource_refusals_total",
      help: "Resources refused by the source, by TRELLIS_E_DESTINATION_* code (counted once per distinct refusal)",
      labelNames: ["code"] as const,
      registers,
    });
    for (const rpc of ["Get", "GetProfile"]) {
      this.streams.set({ rpc }, 0);
      this.overflows.inc({ rpc }, 0);
    }
    collectDefaultMetrics({ register: this.registry });
  }
}
