/**
 * Volumes of the node stand-in: each is a directory under the pod's folder on this machine, bind-mounted
 * at its mountPath inside the container's own mount namespace (`ip netns exec` gives each container
 * one), so two pods can both have /var/run/secrets/kubernetes.io/serviceaccount. Supported: emptyDir,
 * configMap, secret, downwardAPI (metadata fields) and projected (serviceAccountToken, configMap, secret,
 * downwardAPI), which covers the API access volume that the ServiceAccount admission plugin adds and
 * the `identity.trellis.dev` token of an injected proxy. Tokens are requested once, not refreshed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type {
  CoreV1Api,
  V1ConfigMap,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1Secret,
  V1Volume,
} from "@kubernetes/client-node";

/** A directory to bind-mount into a container. */
export interface Mount {
  source: string;
  target: string;
}

function fieldValue(pod: V1Pod, path: string): string {
  const meta = pod.metadata ?? {};
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === "labels" ? meta.labels : meta.annotations;
    return map?.[labelOrAnnotation[2] ?? ""] ?? "";
  }
  const toLines = (m?: Record<string, string>) =>
    Object.entries(m ?? {})
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join("\n");
  switch (path) {
    case "metadata.name":
      return meta.name ?? "";
    case "metadata.namespace":
      return meta.namespace ?? "";
    case "metadata.uid":
      return meta.uid ?? "";
    case "metadata.labels":
      return toLines(meta.labels);
    case "metadata.annotations":
      return toLines(meta.annotations);
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "default";
    case "status.podIP":
      return pod.status?.podIP ?? "";
    case "status.hostIP":
      return pod.status?.hostIP ?? "";
    case "status.podIPs":
      return (pod.status?.podIPs ?? []).map((p) => p.ip).join(",");
    default:
      throw new Error(`field ${path} is not supported by the node stand-in`);
  }
}

/** The value of a `fieldRef` (env or downward API). */
export { fieldValue };

function writeFile(dir: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data, { mode });
}

function writeKeys(
  dir: string,
  data: Record<string, string | Buffer>,
  items: V1KeyToPath[] | undefined,
  what: string,
): void {
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) writeFile(dir, k, v);
    return;
  }
  for (const item of items) {
    const v = data[item.key];
    if (v === undefined) throw new Error(`${what} has no key ${item.key}`);
    writeFile(dir, item.path, v, item.mode ?? 0o644);
  }
}

function secretData(secret: V1Secret): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, "base64");
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = Buffer.from(v);
  return out;
}

function configMapData(cm: V1ConfigMap): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = { ...(cm.data ?? {}) };
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, "base64");
  return out;
}

function writeDownward(dir: string, pod: V1Pod, items: V1DownwardAPIVolumeFile[] | undefined): void {
  for (const item of items ?? []) {
    if (item.fieldRef) writeFile(dir, item.path, fieldValue(pod, item.fieldRef.fieldPath));
  }
}

/** Fills the pod's volume directories under `podDir/volumes/` and returns them by volume name. */
export async function prepareVolumes(
  api: CoreV1Api,
  pod: V1Pod,
  podDir: string,
): Promise<Map<string, string>> {
  const ns = pod.metadata?.namespace ?? "default";
  const out = new Map<string, string>();
  for (const vol of pod.spec?.volumes ?? ([] as V1Volume[])) {
    const dir = join(podDir, "volumes", vol.name);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    out.set(vol.name, dir);
    if (vol.emptyDir) continue;
    if (vol.configMap) {
      const name = vol.configMap.name ?? "";
      const cm = await api.readNamespacedConfigMap({ name, namespace: ns }).catch((err) => {
        if (vol.configMap?.optional) return undefined;
        throw new Error(`configMap ${ns}/${name}: ${(err as Error).message}`);
      });
      if (cm) writeKeys(dir, configMapData(cm), vol.configMap.items, `configMap ${name}`);
    } else if (vol.secret) {
      const name = vol.secret.secretName ?? "";
      const s = await api.readNamespacedSecret({ name, namespace: ns }).catch((err) => {
        if (vol.secret?.optional) return undefined;
        throw new Error(`secret ${ns}/${name}: ${(err as Error).message}`);
      });
      if (s) writeKeys(dir, secretData(s), vol.secret.items, `secret ${name}`);
    } else if (vol.downwardAPI) {
      writeDownward(dir, pod, vol.downwardAPI.items);
    } else if (vol.projected) {
      for (const src of vol.projected.sources ?? []) {
        if (src.serviceAccountToken) {
          const tr = await api.createNamespacedServiceAccountToken({
            name: pod.spec?.serviceAccountName ?? "default",
            namespace: ns,
            body: {
              spec: {
                audiences: src.serviceAccountToken.audience ? [src.serviceAccountToken.audience] : [],
                expirationSeconds: src.serviceAccountToken.expirationSeconds ?? 3607,
                boundObjectRef: {
                  apiVersion: "v1",
                  kind: "Pod",
                  name: pod.metadata?.name,
                  uid: pod.metadata?.uid,
                },
              },
            },
          });
          writeFile(dir, src.serviceAccountToken.path, tr.status?.token ?? "", 0o644);
        } else if (src.configMap) {
          const name = src.configMap.name ?? "";
          const cm = await api.readNamespacedConfigMap({ name, namespace: ns }).catch(() => undefined);
          if (cm) writeKeys(dir, configMapData(cm), src.configMap.items, `configMap ${name}`);
          else if (!src.configMap.optional) throw new Error(`configMap ${ns}/${name} not found`);
        } else if (src.secret) {
          const name = src.secret.name ?? "";
          const s = await api.readNamespacedSecret({ name, namespace: ns }).catch(() => undefined);
          if (s) writeKeys(dir, secretData(s), src.secret.items, `secret ${name}`);
          else if (!src.secret.optional) throw new Error(`secret ${ns}/${name} not found`);
        } else if (src.downwardAPI) {
          writeDownward(dir, pod, src.downwardAPI.items);
        }
      }
    } else {
      throw new Error(`volume ${vol.name}: only emptyDir, configMap, secret, downwardAPI and projected`);
    }
  }
  return out;
}
