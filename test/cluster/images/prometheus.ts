/**
 * Image `prom/prometheus` on the test bed: this machine's Prometheus (Debian's `/usr/bin/prometheus`)
 * with the container's arguments passed through, and two things the test bed lacks made up here:
 *
 * - Debian builds Prometheus without Kubernetes service discovery, so each `kubernetes_sd_configs`
 *   (role `pod`, optionally `namespaces.names`: what `meshctl viz install` writes; anything else is
 *   refused) becomes a `file_sd_configs` file that this program keeps current from a pod informer,
 *   with the same target groups and `__meta_kubernetes_*` labels as Prometheus's pod role. It lists
 *   and watches with the pod's own ServiceAccount token, so the install's RBAC is what is tested.
 *   Prometheus itself then relabels, scrapes and answers queries as it would in a cluster.
 * - The node stand-in has no fsGroup: an emptyDir belongs to root, and Prometheus runs as nobody. When
 *   `--storage.tsdb.path` is not writable, the data goes to a private temporary folder instead.
 *
 * The rewritten configuration, the discovery files and that data live in one temporary folder,
 * removed when Prometheus exits. SIGTERM and SIGINT are passed on to Prometheus.
 */
import { spawn } from "node:child_process";
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { listWatches, RestartingInformer } from "../../../control/k8s/index.js";
import { logger } from "../../../lib/log.js";
import { podTargets, sanitize } from "./pod-sd.js";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";

interface SdConfig {
  role?: string;
  namespaces?: { names?: string[] };
  [key: string]: unknown;
}

interface ScrapeConfig {
  job_name: string;
  kubernetes_sd_configs?: SdConfig[];
  file_sd_configs?: { files: string[] }[];
  [key: string]: unknown;
}

/** One discovery file to keep current: which namespaces' pods go in it. */
interface Discovery {
  file: string;
  /** undefined: every namespace. */
  namespaces: Set<string> | undefined;
}

function fail(message: string): never {
  process.stderr.write(`prometheus stand-in: ${message}\n`);
  process.exit(1);
}

/** The configuration with kubernetes_sd turned into file_sd, and the files to keep. */
function rewrite(config: { scrape_configs?: ScrapeConfig[] }, sdDir: string): Discovery[] {
  const discoveries: Discovery[] = [];
  for (const job of config.scrape_configs ?? []) {
    const sds = job.kubernetes_sd_configs;
    if (!sds) continue;
    const files = sds.map((sd, i) => {
      const extra = Object.keys(sd).filter((k) => k !== "role" && k !== "namespaces");
      if (sd.role !== "pod" || extra.length > 0)
        fail(`job ${job.job_name}: only kubernetes_sd_configs with role: pod (and namespaces) are supported`);
      const file = join(sdDir, `${sanitize(job.job_name)}-${i}.json`);
      writeFileSync(file, "[]\n");
      const names = sd.namespaces?.names;
      discoveries.push({ file, namespaces: names ? new Set(names) : undefined });
      return file;
    });
    delete job.kubernetes_sd_configs;
    job.file_sd_configs = [...(job.file_sd_configs ?? []), { files }];
  }
  return discoveries;
}

/** `--flag=value` or `--flag value` of the arguments, with where it was. */
function flagValue(args: string[], flag: string): { value: string; at: number; joined: boolean } | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a.startsWith(`${flag}=`)) return { value: a.slice(flag.length + 1), at: i, joined: true };
    if (a === flag && i + 1 < args.length) return { value: args[i + 1] as string, at: i, joined: false };
  }
  return undefined;
}

function withFlag(args: string[], flag: string, value: string): string[] {
  const found = flagValue(args, flag);
  if (!found) return [...args, `${flag}=${value}`];
  const out = [...args];
  out.splice(found.at, found.joined ? 1 : 2, `${flag}=${value}`);
  return out;
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  let args = process.argv.slice(2);
  const work = mkdtempSync(join(tmpdir(), "trellis-prometheus-"));
  const sdDir = join(work, "sd");
  mkdirSync(sdDir);
  const configPath = resolve(flagValue(args, "--config.file")?.value ?? "prometheus.yml");
  const config = parse(readFileSync(configPath, "utf8")) as { scrape_configs?: ScrapeConfig[] };
  const discoveries = rewrite(config, sdDir);
  writeFileSync(join(work, "prometheus.yml"), stringify(config));
  args = withFlag(args, "--config.file", join(work, "prometheus.yml"));
  const storage = flagValue(args, "--storage.tsdb.path")?.value ?? "data/";
  if (!writable(storage)) {
    process.stderr.write(
      `prometheus stand-in: ${storage} is not writable (no fsGroup here): data in ${work}/data\n`,
    );
    args = withFlag(args, "--storage.tsdb.path", join(work, "data"));
  }

  let informer: RestartingInformer | undefined;
  if (discoveries.length > 0) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    const log = logger("prometheus-sd");
    const write = () => {
      const pods = (informer?.list() ?? []) as V1Pod[];
      for (const d of discoveries) {
        const groups = pods
          .filter((p) => d.namespaces === undefined || d.namespaces.has(p.metadata?.namespace ?? ""))
          .flatMap(podTargets);
        // Written whole and renamed into place, so Prometheus never reads half a file.
        writeFileSync(`${d.file}.tmp`, `${JSON.stringify(groups)}\n`);
        renameSync(`${d.file}.tmp`, d.file);
      }
    };
    informer = new RestartingInformer("pods", kc, listWatches(kc).pods, { log, onEvent: write });
    void informer.start();
  }

  const child = spawn(PROMETHEUS_BIN, args, { stdio: "inherit" });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", async (code, signal) => {
    await informer?.stop();
    rmSync(work, { recursive: true, force: true });
    process.exit(code ?? (signal ? 128 : 1));
  });
}

await main();
