/**
 * What the webhook needs from the cluster, behind one interface so the server never knows whether an
 * API server or a test answers: the installed config in force, a namespace's annotations, and a way to
 * write an Event. kubernetes.ts implements it with informers; the tests with plain values.
 */

import type { NamespaceLookup } from "./admission.js";
import type { InjectorConfig } from "./config.js";
import type { Obj } from "./workloads.js";

export interface InjectorSources {
  /** The installed config in force; undefined until a usable one has loaded. */
  config(): InjectorConfig | undefined;
  /** The annotations of a namespace ({} for one that has none or does not exist), or why they could not be read. */
  namespace(name: string): Promise<NamespaceLookup>;
  /** Writes one Event; never throws, resolves with the API server's verdict. */
  writeEvent(event: Obj): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Whether the webhook can decide: the config loaded and the namespaces listed. */
  ready(): { ok: boolean; reason: string };
  stop(): Promise<void>;
}
