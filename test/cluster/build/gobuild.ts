/**
 * Builds the test bed's binaries into `~/.cache/trellis/k8s/<version>/`: kube-apiserver,
 * kube-controller-manager and kubectl in one `go build` (they share most packages), etcd from its own
 * module. A stamp next to the binaries records a hash of everything that went into them, so a second
 * run skips what is built; a lock lets concurrent runs wait for one build instead of racing.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { formatDuration, formatMeasured, type Measured, output, runNice } from "./exec.js";
import { type Binaries, binaries, etcdModuleDir, goEnv, k8sModuleDir, pinnedVersions } from "./paths.js";

interface Group {
  name: string;
  moduleDir: string;
  packages: string[];
  outputs: string[];
  /** The file names `go build -o dir/` gives the outputs, in the same order. */
  produced: string[];
  ldflags: string;
}

function groups(bin: Binaries, kubernetes: string): Group[] {
  const minor = /^v1\.(\d+)\./.exec(kubernetes)?.[1] ?? "0";
  const version = (pkg: string) =>
    [`gitVersion=${kubernetes}`, "gitMajor=1", `gitMinor=${minor}`, "gitTreeState=clean"].map(
      (kv) => `-X ${pkg}.${kv}`,
    );
  return [
    {
      name: "kube",
      moduleDir: k8sModuleDir,
      packages: ["./cmd/kube-apiserver", "./cmd/kube-controller-manager", "./cmd/kubectl"],
      outputs: [bin.kubeApiserver, bin.kubeControllerManager, bin.kubectl],
      produced: ["kube-apiserver", "kube-controller-manager", "kubectl"],
      ldflags: [
        "-s",
        "-w",
        ...version("k8s.io/component-base/version"),
        ...version("k8s.io/client-go/pkg/version"),
      ].join(" "),
    },
    {
      name: "etcd",
      moduleDir: etcdModuleDir,
      packages: ["."],
      outputs: [bin.etcd],
      // A main package is named after its directory.
      produced: ["etcdbin"],
      ldflags: "-s -w",
    },
  ];
}

function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...moduleFiles(path));
    else if (/\.go$|^go\.(mod|sum)$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

function stampOf(group: Group, goVersion: string): string {
  const h = createHash("sha256").update(`${goVersion}\n${group.ldflags}\n`);
  for (const file of moduleFiles(group.moduleDir)) {
    h.update(`${relative(group.moduleDir, file)}\n`).update(readFileSync(file));
  }
  return h.digest("hex");
}

const stampPath = (bin: Binaries, group: Group) => join(bin.dir, `.${group.name}.stamp`);

function isBuilt(bin: Binaries, group: Group, stamp: string): boolean {
  if (!group.outputs.every((f) => existsSync(f))) return false;
  try {
    return readFileSync(stampPath(bin, group), "utf8").trim() === stamp;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes `<dir>/.lock` (a directory holding the owner's PID), waiting while a live process holds it. */
async function lock(dir: string): Promise<() => void> {
  const path = join(dir, ".lock");
  let announced = false;
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, "pid"), String(process.pid));
      return () => rmSync(path, { recursive: true, force: true });
    } catch {
      const owner = Number(readFileSync(join(path, "pid"), { encoding: "utf8", flag: "a+" }) || "0");
      if (owner > 0 && !pidAlive(owner)) {
        rmSync(path, { recursive: true, force: true });
        continue;
      }
      if (!announced) process.stderr.write(`[build] waiting for the build of PID ${owner || "?"}\n`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Builds one group; prints a progress line per 100 compiled packages and at least every 30 s. */
async function buildGroup(bin: Binaries, group: Group): Promise<Measured> {
  const env = goEnv();
  const t0 = Date.now();
  process.stderr.write(`[build] ${group.name}: resolving and downloading modules\n`);
  const deps = await output("go", ["list", "-deps", ...group.packages], { cwd: group.moduleDir, env });
  const total = deps.split("\n").filter(Boolean).length;
  process.stderr.write(
    `[build] ${group.name}: ${total} packages to link, modules ready after ${formatDuration((Date.now() - t0) / 1000)}\n`,
  );
  const tmp = join(bin.dir, `.tmp-${group.name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let compiled = 0;
  let lastReport = Date.now();
  const measured = await runNice(
    "go",
    ["build", "-v", "-trimpath", `-ldflags=${group.ldflags}`, "-o", `${tmp}/`, ...group.packages],
    {
      cwd: group.moduleDir,
      env,
      onLine: (line) => {
        if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line)) compiled++;
        else process.stderr.write(`${line}\n`);
        if (compiled % 100 === 0 || Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          const elapsed = formatDuration((Date.now() - t0) / 1000);
          process.stderr.write(
            `[build] ${group.name}: compiled ${compiled}/${total} packages (${elapsed})\n`,
          );
        }
      },
    },
  );
  group.outputs.forEach((out, i) => {
    renameSync(join(tmp, group.produced[i] ?? ""), out);
  });
  rmSync(tmp, { recursive: true, force: true });
  return { ...measured, wallSeconds: (Date.now() - t0) / 1000 };
}

/** The outcome of {@link ensureBinaries}, per group: built now (with its cost) or already there. */
export interface BuildReport {
  binaries: Binaries;
  groups: { name: string; built: boolean; measured?: Measured }[];
}

/** True when every binary for the pinned versions exists and matches its stamp. */
export async function binariesReady(): Promise<boolean> {
  const bin = binaries();
  const goVersion = await output("go", ["version"], { cwd: k8sModuleDir, env: goEnv() });
  return groups(bin, pinnedVersions().kubernetes).every((g) => isBuilt(bin, g, stampOf(g, goVersion)));
}

/** Builds whatever is missing or stale for the pinned versions; `force` rebuilds everything. */
export async function ensureBinaries(force = false): Promise<BuildReport> {
  const versions = pinnedVersions();
  const bin = binaries(versions);
  mkdirSync(bin.dir, { recursive: true });
  const goVersion = await output("go", ["version"], { cwd: k8sModuleDir, env: goEnv() });
  process.stderr.write(
    `[build] k8s.io/kubernetes ${versions.kubernetes}, etcd ${versions.etcd}, ${goVersion} → ${bin.dir}\n`,
  );
  const unlock = await lock(bin.dir);
  const report: BuildReport = { binaries: bin, groups: [] };
  try {
    for (const group of groups(bin, versions.kubernetes)) {
      const stamp = stampOf(group, goVersion);
      if (!force && isBuilt(bin, group, stamp)) {
        process.stderr.write(`[build] ${group.name}: up to date, skipped\n`);
        report.groups.push({ name: group.name, built: false });
        continue;
      }
      rmSync(stampPath(bin, group), { force: true });
      const measured = await buildGroup(bin, group);
      writeFileSync(stampPath(bin, group), `${stamp}\n`);
      process.stderr.write(`[build] ${group.name}: built in ${formatMeasured(measured)}\n`);
      report.groups.push({ name: group.name, built: true, measured });
    }
  } finally {
    unlock();
  }
  return report;
}
