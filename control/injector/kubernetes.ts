/**
 * The webhook's sources from a real API server: an informer on the control plane's ConfigMaps turns
 * `trellis-config` and the trust anchors into the injector's config whenever either changes (a valid
 * change applies to the next pod, no restart; an invalid one is logged and the last good config kept),
 * an informer on Namespaces answers their annotations (with a GET for a namespace too new for the
 * cache), and Events are POSTed. Informers restart with backoff (control/k8s/informer.ts).
 */
import type { KubeConfig, V1ConfigMap, V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "../../lib/log.js";
import { CONFIG_CONFIGMAP, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY } from "../common/mesh-config.js";
import { configMapsListWatch, namespacesListWatch, RestartingInformer, RestClient } from "../k8s/index.js";
import type { NamespaceLookup } from "./admission.js";
import { type InjectorConfig, type InstalledConfig, injectorConfig } from "./config.js";
import { describe } from "./errors.js";
import type { InjectorSources } from "./sources.js";
import type { Obj } from "./workloads.js";

export interface KubernetesSourcesOptions {
  kubeConfig: KubeConfig;
  /** Where trellis-config lives. */
  controlPlaneNamespace: string;
  log: Logger;
  /** Told after every change of the ConfigMaps that changes what they say: applied or refused. */
  onConfigChange?: (applied: boolean) => void;
}

export class KubernetesSources implements InjectorSources {
  private readonly configMaps: RestartingInformer;
  private readonly namespaces: RestartingInformer;
  private readonly rest: RestClient;
  private current: InjectorConfig | undefined;
  private lastSeen = "";
  private lastProblem = "the ConfigMaps are not listed yet";

  private constructor(private readonly options: KubernetesSourcesOptions) {
    const { kubeConfig: kc, log } = options;
    this.rest = new RestClient(kc);
    this.configMaps = new RestartingInformer(
      "configMaps",
      kc,
      configMapsListWatch(kc, options.controlPlaneNamespace),
      { log, onEvent: () => this.rebuild() },
    );
    this.namespaces = new RestartingInformer("namespaces", kc, namespacesListWatch(kc), {
      log,
      onEvent: () => {},
    });
  }

  /** Starts both informers; resolves once both have listed (they retry with backoff until then). */
  static async open(options: KubernetesSourcesOptions): Promise<KubernetesSources> {
    const sources = new KubernetesSources(options);
    void sources.configMaps.start();
    void sources.namespaces.start();
    await Promise.all([sources.configMaps.whenSynced(), sources.namespaces.whenSynced()]);
    return sources;
  }

  config(): InjectorConfig | undefined {
    return this.current;
  }

  async namespace(name: string): Promise<NamespaceLookup> {
    const cached = this.namespaces.get(name) as V1Namespace | undefined;
    if (cached) return { ok: true, annotations: cached.metadata?.annotations ?? {} };
    const r = await this.rest.get<V1Namespace>(`/api/v1/namespaces/${encodeURIComponent(name)}`);
    if (!r.ok) return { ok: false, reason: r.reason };
    return { ok: true, annotations: r.body?.metadata?.annotations ?? {} };
  }

  async writeEvent(event: Obj): Promise<{ ok: true } | { ok: false; reason: string }> {
    const ns = (event.metadata as { namespace?: string } | undefined)?.namespace ?? "default";
    const r = await this.rest.post(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event);
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  }

  ready(): { ok: boolean; reason: string } {
    if (!this.namespaces.synced) return { ok: false, reason: "namespaces not listed yet" };
    if (!this.current) return { ok: false, reason: this.lastProblem };
    return { ok: true, reason: "" };
  }

  async stop(): Promise<void> {
    await Promise.all([this.configMaps.stop(), this.namespaces.stop()]);
  }

  /** Rebuilds the config from the cached ConfigMaps; applies it when valid and different. */
  private rebuild(): void {
    // The first list fires an event per object; judge the whole list once it is in.
    if (!this.configMaps.synced) return;
    const ns = this.options.controlPlaneNamespace;
    const data = (name: string) =>
      (this.configMaps.get(name, ns) as V1ConfigMap | undefined)?.data as Record<string, string> | undefined;
    const installed = data(CONFIG_CONFIGMAP);
    const anchors = data(TRUST_ROOTS_CONFIGMAP)?.[TRUST_ROOTS_KEY];
    const seen = JSON.stringify([installed ?? null, anchors ?? null]);
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;
    let problem: string | undefined;
    if (!installed) problem = `ConfigMap ${ns}/${CONFIG_CONFIGMAP} does not exist`;
    else if (anchors === undefined)
      problem = `ConfigMap ${ns}/${TRUST_ROOTS_CONFIGMAP} has no key ${TRUST_ROOTS_KEY}`;
    else {
      try {
        this.current = injectorConfig(installed as Partial<InstalledConfig>, anchors);
        this.options.log.info(
          { version: this.current.version, proxyImage: this.current.proxyImage },
          "installed config loaded; injecting with it from now on",
        );
        this.options.onConfigChange?.(true);
        return;
      } catch (err) {
        problem = `ConfigMap ${ns}/${CONFIG_CONFIGMAP}: ${(err as Error).message}`;
      }
    }
    this.lastProblem = problem;
    this.options.log.error(
      { code: "TRELLIS_E_INJECTOR_CONFIG", keptVersion: this.current?.version },
      `${describe("TRELLIS_E_INJECTOR_CONFIG", problem)}; ${this.current ? "still injecting with the previous config" : "not ready until it is fixed"}`,
    );
    this.options.onConfigChange?.(false);
  }
}
