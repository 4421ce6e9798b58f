/**
 * The one shape of every error catalogue (the proxy's, the identity client's, each controller's): an
 * entry per stable `TRELLIS_E_*` code, refusals returned rather than thrown, and the one form every log
 * line and error detail takes, `CODE: summary: reason`.
 */
import type { status } from "@grpc/grpc-js";

export interface CatalogueEntry {
  /** What went wrong, in a few words (the start of every message with this code). */
  readonly summary: string;
  /** The gRPC status a request refused with this code gets; undefined for codes that never answer one. */
  readonly grpc?: status;
  /** The HTTP status a request refused with this code gets; undefined for codes that never answer one. */
  readonly http?: number;
}

/** An expected failure, returned rather than thrown. */
export interface Refusal<C extends string> {
  readonly ok: false;
  readonly code: C;
  /** What exactly was wrong, naming the input (file, resource, field, SAN found). */
  readonly reason: string;
}

/** The codes of catalogue `T` that answer a request, with the gRPC status they map to. */
export type AnsweringCode<T extends Record<string, CatalogueEntry>> = {
  [K in keyof T]: T[K] extends { grpc: status } ? K : never;
}[keyof T];

export interface Catalogue<T extends Record<string, CatalogueEntry>> {
  refuse<C extends keyof T & string>(code: C, reason: string): Refusal<C>;
  /** The gRPC status a request refused with `code` gets. */
  grpcStatusOf(code: AnsweringCode<T>): status;
  /** `CODE: summary: reason`. */
  describe(code: keyof T & string, reason: string): string;
}

export function catalogue<T extends Record<string, CatalogueEntry>>(entries: T): Catalogue<T> {
  return {
    refuse: (code, reason) => ({ ok: false, code, reason }),
    grpcStatusOf: (code) => entries[code]?.grpc as status,
    describe: (code, reason) => `${code}: ${entries[code]?.summary}: ${reason}`,
  };
}
