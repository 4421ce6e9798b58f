/**
 * A container's environment as a kubelet builds it: the runtime's own variables (PATH, HOME, HOSTNAME,
 * KUBERNETES_SERVICE_*), then `envFrom` sources, then `env` in order with `$(VAR)` expansion from the
 * variables defined before, `fieldRef`s from the pod, and ConfigMap and Secret keys read once when the
 * pod starts.
 */
import type { CoreV1Api, V1Container, V1EnvVar, V1Pod } from "@kubernetes/client-node";
import { fieldValue } from "./volumes.js";

/** The ConfigMap and Secret values one container's env and envFrom name, read at pod start. */
export interface EnvRefs {
  /** Every key of the `envFrom` sources, with their prefixes. */
  fromSources: Record<string, string>;
  /** `env` entries whose value is a configMapKeyRef or secretKeyRef, by variable name. */
  keys: Record<string, string>;
}

/** `$(VAR)` expansion as the kubelet does it; `$$(VAR)` escapes. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) =>
    m === "$$" ? "$" : name !== undefined && name in env ? (env[name] ?? "") : m,
  );
}

/** What {@link containerEnv} needs besides the container. */
export interface EnvContext {
  /** The pod, with the addresses the runtime knows filled into its status. */
  pod: V1Pod;
  refs?: EnvRefs;
  /** Directories put first on PATH (the image's). */
  path: string[];
  uid: number;
  apiHost: string;
  apiPort: number;
}

/** The environment a container's process starts with. */
export function containerEnv(c: V1Container, ctx: EnvContext): Record<string, string> {
  const env: Record<string, string> = {
    PATH: [...ctx.path, process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"].join(":"),
    HOME: ctx.uid === 0 ? "/root" : "/",
    HOSTNAME: ctx.pod.metadata?.name ?? "",
    KUBERNETES_SERVICE_HOST: ctx.apiHost,
    KUBERNETES_SERVICE_PORT: String(ctx.apiPort),
    KUBERNETES_SERVICE_PORT_HTTPS: String(ctx.apiPort),
    KUBERNETES_PORT: `tcp://${ctx.apiHost}:${ctx.apiPort}`,
  };
  Object.assign(env, ctx.refs?.fromSources);
  for (const e of c.env ?? ([] as V1EnvVar[])) {
    if (e.valueFrom?.fieldRef) env[e.name] = fieldValue(ctx.pod, e.valueFrom.fieldRef.fieldPath);
    else if (e.valueFrom) {
      // configMap/secret keys were read at pod start; resource fields are not supported.
      const v = ctx.refs?.keys[e.name];
      if (v !== undefined) env[e.name] = v;
    } else env[e.name] = expand(e.value ?? "", env);
  }
  return env;
}

/**
 * Reads the ConfigMap and Secret values that the containers' env and envFrom name. Throws, naming the
 * container and the reference, when a source or key that is not optional is missing.
 */
export async function resolveEnvRefs(
  api: CoreV1Api,
  pod: V1Pod,
  containers: V1Container[],
): Promise<Map<string, EnvRefs>> {
  const namespace = pod.metadata?.namespace ?? "default";
  const cache = new Map<string, Record<string, string> | undefined>();
  const read = async (kind: "configMap" | "secret", name: string) => {
    const key = `${kind}/${name}`;
    if (!cache.has(key)) {
      const data =
        kind === "configMap"
          ? await api
              .readNamespacedConfigMap({ name, namespace })
              .then((cm) => cm.data ?? {})
              .catch(() => undefined)
          : await api
              .readNamespacedSecret({ name, namespace })
              .then((sec) =>
                Object.fromEntries(
                  Object.entries(sec.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
                ),
              )
              .catch(() => undefined);
      cache.set(key, data);
    }
    return cache.get(key);
  };
  const out = new Map<string, EnvRefs>();
  for (const c of containers) {
    const fromSources: Record<string, string> = {};
    for (const src of c.envFrom ?? []) {
      const data = src.configMapRef
        ? await read("configMap", src.configMapRef.name ?? "")
        : src.secretRef
          ? await read("secret", src.secretRef.name ?? "")
          : undefined;
      const optional = src.configMapRef?.optional ?? src.secretRef?.optional ?? false;
      if (!data && !optional) throw new Error(`container ${c.name}: envFrom source not found`);
      for (const [k, v] of Object.entries(data ?? {})) fromSources[`${src.prefix ?? ""}${k}`] = v;
    }
    const keys: Record<string, string> = {};
    for (const e of c.env ?? []) {
      const cm = e.valueFrom?.configMapKeyRef;
      const sec = e.valueFrom?.secretKeyRef;
      const ref = cm ?? sec;
      if (!ref) continue;
      const v = (await read(cm ? "configMap" : "secret", ref.name ?? ""))?.[ref.key];
      if (v !== undefined) keys[e.name] = v;
      else if (!ref.optional)
        throw new Error(`container ${c.name}: env ${e.name}: key ${ref.key} of ${ref.name} not found`);
    }
    out.set(c.name, { fromSources, keys });
  }
  return out;
}
