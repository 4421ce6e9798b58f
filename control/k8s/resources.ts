/**
 * What the mesh lists and watches, all namespaces: Services, EndpointSlices and Pods from the core
 * groups, ServiceProfiles (trellis.dev/v1alpha1) and TrafficSplits (split.smi-spec.io/v1alpha2) as
 * custom resources; and what the injector follows: Namespaces (their injection annotations) and the
 * ConfigMaps of the control plane's namespace (the installed config). Each kind has the watch path an
 * informer follows and the list call it re-lists with.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";

/** The kinds an informer can follow, by the name the destination model gives their sets. */
export type WatchedKind = "services" | "endpointSlices" | "pods" | "serviceProfiles" | "trafficSplits";

/** One kind's list call and the path its watch follows. */
export interface ListWatch {
  path: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
}

/** The list/watch of every kind, through clients made from one configuration. */
export function listWatches(kc: KubeConfig): Record<WatchedKind, ListWatch> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const crd = (group: string, version: string, plural: string) => () =>
    custom.listCustomObjectForAllNamespaces({ group, version, plural }) as Promise<
      KubernetesListObject<KubernetesObject>
    >;
  return {
    services: { path: "/api/v1/services", list: () => core.listServiceForAllNamespaces() },
    endpointSlices: {
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      list: () => discovery.listEndpointSliceForAllNamespaces(),
    },
    pods: { path: "/api/v1/pods", list: () => core.listPodForAllNamespaces() },
    serviceProfiles: {
      path: "/apis/trellis.dev/v1alpha1/serviceprofiles",
      list: crd("trellis.dev", "v1alpha1", "serviceprofiles"),
    },
    trafficSplits: {
      path: "/apis/split.smi-spec.io/v1alpha2/trafficsplits",
      list: crd("split.smi-spec.io", "v1alpha2", "trafficsplits"),
    },
  };
}

/** Every Namespace: the injector reads their `trellis.dev/inject` annotations. */
export function namespacesListWatch(kc: KubeConfig): ListWatch {
  const core = kc.makeApiClient(CoreV1Api);
  return { path: "/api/v1/namespaces", list: () => core.listNamespace() };
}

/** The ConfigMaps of one namespace: the injector follows the control plane's installed config. */
export function configMapsListWatch(kc: KubeConfig, namespace: string): ListWatch {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace }),
  };
}
