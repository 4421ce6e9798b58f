/**
 * Where the test bed's Go modules live in the repository and where their binaries are cached. The
 * pinned versions are read from the committed go.mod files, so a version bump is one regeneration
 * (`tsx test/cluster/build.ts --regen ...`) and nothing else to edit.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** test/cluster/ in the repository. */
export const clusterDir = fileURLToPath(new URL("..", import.meta.url));
/** The wrapper module building kube-apiserver, kube-controller-manager and kubectl. */
export const k8sModuleDir = join(clusterDir, "k8sbin");
/** The module building etcd. */
export const etcdModuleDir = join(clusterDir, "etcdbin");

/** Root of everything the test bed caches: `$TRELLIS_CACHE_DIR` or `~/.cache/trellis`. */
export function cacheRoot(): string {
  return process.env.TRELLIS_CACHE_DIR ?? join(homedir(), ".cache", "trellis");
}

/** The Go caches of the test bed's builds, kept out of the repository (`$GOCACHE`/`$GOMODCACHE` win). */
export function goEnv(): Record<string, string> {
  return {
    GOCACHE: process.env.GOCACHE ?? join(cacheRoot(), "go", "build"),
    GOMODCACHE: process.env.GOMODCACHE ?? join(cacheRoot(), "go", "mod"),
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
    // -p 2: the machines have two cores that other work shares; the build also runs under nice.
    GOFLAGS: "-mod=readonly -p=2 -buildvcs=false",
  };
}

/** The versions pinned by the committed go.mod files. */
export interface PinnedVersions {
  /** k8s.io/kubernetes, e.g. `v1.37.2`. */
  kubernetes: string;
  /** go.etcd.io/etcd/server/v3, e.g. `v3.6.16`. */
  etcd: string;
}

/** The version a go.mod requires of a module, or undefined when it does not require it. */
export function requiredVersion(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(goMod)?.[1];
}

export function pinnedVersions(): PinnedVersions {
  const k8s = readFileSync(join(k8sModuleDir, "go.mod"), "utf8");
  const etcd = readFileSync(join(etcdModuleDir, "go.mod"), "utf8");
  const kubernetes = requiredVersion(k8s, "k8s.io/kubernetes");
  const etcdVersion = requiredVersion(etcd, "go.etcd.io/etcd/server/v3");
  if (!kubernetes || !etcdVersion) throw new Error("test/cluster: go.mod files do not pin the versions");
  return { kubernetes, etcd: etcdVersion };
}

/** The binaries of one pinned version set. */
export interface Binaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

/** `~/.cache/trellis/k8s/<kubernetes version>/`, holding etcd too (its stamp records its version). */
export function binaries(versions: PinnedVersions = pinnedVersions()): Binaries {
  const dir = join(cacheRoot(), "k8s", versions.kubernetes);
  return {
    dir,
    etcd: join(dir, "etcd"),
    kubeApiserver: join(dir, "kube-apiserver"),
    kubeControllerManager: join(dir, "kube-controller-manager"),
    kubectl: join(dir, "kubectl"),
  };
}
