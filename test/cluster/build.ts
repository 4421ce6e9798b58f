/**
 * Builds the cluster test bed's binaries from the Go module proxy, or regenerates the wrapper modules.
 *
 *   tsx test/cluster/build.ts                 build what is missing for the pinned versions
 *   tsx test/cluster/build.ts --force         rebuild everything
 *   tsx test/cluster/build.ts --check         exit 0 when built, 1 when not (builds nothing)
 *   tsx test/cluster/build.ts --regen [--kubernetes v1.37.2,v1.36.3] [--etcd v3.6.16]
 *                                             regenerate k8sbin/ and etcdbin/ go.mod + go.sum, then build
 *
 * Progress goes to stderr; the last stdout line is the directory holding the binaries.
 */
import { parseArgs } from "node:util";
import { formatDuration } from "./build/exec.js";
import { binariesReady, ensureBinaries } from "./build/gobuild.js";
import { etcdCandidates, kubernetesCandidates, regenerateEtcd, regenerateKubernetes } from "./build/gomod.js";
import { binaries } from "./build/paths.js";

const { values } = parseArgs({
  options: {
    force: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    regen: { type: "boolean", default: false },
    kubernetes: { type: "string" },
    etcd: { type: "string" },
  },
});

const list = (v: string | undefined, fallback: string[]) =>
  v ? v.split(",").map((s) => s.trim()) : fallback;

try {
  if (values.check) {
    const ready = await binariesReady();
    process.stdout.write(`${ready ? "built" : "not built"}: ${binaries().dir}\n`);
    process.exitCode = ready ? 0 : 1;
  } else {
    const t0 = Date.now();
    if (values.regen) {
      const k = await regenerateKubernetes(list(values.kubernetes, kubernetesCandidates));
      const e = await regenerateEtcd(list(values.etcd, etcdCandidates));
      process.stderr.write(`[regen] pinned k8s.io/kubernetes ${k}, go.etcd.io/etcd/server/v3 ${e}\n`);
    }
    const report = await ensureBinaries(values.force);
    process.stderr.write(`[build] done in ${formatDuration((Date.now() - t0) / 1000)}\n`);
    process.stdout.write(`${report.binaries.dir}\n`);
  }
} catch (err) {
  process.stderr.write(`[build] ${(err as Error).message}\n`);
  process.exitCode = 1;
}
