/**
 * What a container image means on the node stand-in, which has no container runtime: every image is a
 * command on this machine. This table is the one place that says which.
 *
 * - `TRELLIS_IMAGE` (`ghcr.io/trellis-mesh/trellis`, any tag or digest): this repository's built
 *   executables. `meshctl`, `trellis-proxy` and `trellis-controller` are on the container's PATH (shims
 *   that run `dist/` with each one's Node flags), and the container's `command` names which one runs,
 *   e.g. `command: [trellis-controller, identity]`; without a command it runs `trellis-proxy`. The
 *   names, entry points, flags and default command come from cli/install/image.ts, which the
 *   Dockerfile follows too, so a pod here runs what it would run from the real image.
 * - `trellis.test/echo`: test/cluster/images/echo.ts, an HTTP server that answers every request with
 *   a JSON line naming the pod (env `PORT`, default 8080).
 * - `trellis.test/webhook`: test/cluster/images/webhook.ts, a mutating admission webhook over HTTPS
 *   (certificate from $TLS_DIR, default /tls; port $PORT, default 8443) that annotates what it admits.
 * - `trellis.test/tools`: runs `command`/`args` as they are with this machine's programs (sh, curl,
 *   iptables, node, ...); without a command it sleeps until the pod is deleted.
 * - `prom/prometheus` (the official image, any tag): this machine's Prometheus (Debian's
 *   /usr/bin/prometheus) through test/cluster/images/prometheus.ts, which passes the container's
 *   arguments on (`--config.file`, `--storage.tsdb.path`, ...) and stands in for the Kubernetes service
 *   discovery Debian's build lacks. Without args, the official image's defaults.
 * Any other image leaves the container waiting with reason `ImageNotMapped`.
 */
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXECUTABLES, IMAGE_DEFAULT_COMMAND, IMAGE_REPOSITORY } from "../../../cli/install/image.js";

/** The repository of Trellis's own image; `meshctl install` may use any tag of it. */
export const TRELLIS_IMAGE = IMAGE_REPOSITORY;
/** Images of the test bed's own test programs. */
export const TEST_IMAGE_PREFIX = "trellis.test/";
/** The official Prometheus image, as `meshctl viz install` renders it. */
export const PROMETHEUS_IMAGE = "prom/prometheus";

export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const tsxLoader = import.meta.resolve("tsx");

/** How one image runs: a default entrypoint and arguments (as in an image's config) and extra PATH. */
export interface ImageRecipe {
  entrypoint: string[];
  cmd: string[];
  /** Directories put first on PATH. */
  path: string[];
}

/** The image name without tag or digest: `ghcr.io/trellis-mesh/trellis:v1` → `ghcr.io/trellis-mesh/trellis`. */
export function repositoryOf(image: string): string {
  const noDigest = image.split("@")[0] ?? image;
  const lastSlash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

/** Writes the PATH shims for the Trellis image into `dir` and returns it. */
export function writeTrellisShims(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const { name, entry, nodeFlags } of EXECUTABLES) {
    const path = join(dir, name);
    const argv = [process.execPath, ...nodeFlags, join(repoRoot, entry)].map((a) => `"${a}"`).join(" ");
    writeFileSync(path, `#!/bin/sh\nexec ${argv} "$@"\n`);
    chmodSync(path, 0o755);
  }
  // Containers may run as any user (runAsUser), as from an image's /usr/local/bin: every directory above
  // the shims (a test bed's private temp folder among them) gets search permission, not read permission.
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(d, mode | 0o011);
  }
  return dir;
}

/** The recipe of an image, or undefined when the test bed cannot run it. */
export function recipeFor(image: string, shimDir: string): ImageRecipe | undefined {
  const repo = repositoryOf(image);
  if (repo === TRELLIS_IMAGE) return { entrypoint: [IMAGE_DEFAULT_COMMAND], cmd: [], path: [shimDir] };
  if (repo === `${TEST_IMAGE_PREFIX}echo`) {
    const script = join(repoRoot, "test/cluster/images/echo.ts");
    return { entrypoint: [process.execPath, "--import", tsxLoader, script], cmd: [], path: [] };
  }
  if (repo === `${TEST_IMAGE_PREFIX}webhook`) {
    const script = join(repoRoot, "test/cluster/images/webhook.ts");
    return { entrypoint: [process.execPath, "--import", tsxLoader, script], cmd: [], path: [] };
  }
  if (repo === `${TEST_IMAGE_PREFIX}tools`) return { entrypoint: [], cmd: ["sleep", "infinity"], path: [] };
  if (repo === PROMETHEUS_IMAGE) {
    const script = join(repoRoot, "test/cluster/images/prometheus.ts");
    return {
      entrypoint: [process.execPath, "--import", tsxLoader, script],
      // The official image's CMD.
      cmd: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
      path: [],
    };
  }
  return undefined;
}

/** Kubernetes' rule: `command` replaces the entrypoint (and drops the image's cmd), `args` the cmd. */
export function argvFor(recipe: ImageRecipe, command?: string[], args?: string[]): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  return [...recipe.entrypoint, ...(args && args.length > 0 ? args : recipe.cmd)];
}
