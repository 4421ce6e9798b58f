// The Go tier of the metrics tests: Prometheus' own text parser (github.com/prometheus/common/expfmt,
// built with Go) must accept the proxy's /metrics text and read the same samples as viz's parser.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parsePrometheusText, type Sample } from "../../../viz/prometheus.js";
import { escapes, scenario } from "./support.js";

// The Go tier: Prometheus' own text parser must accept the output and read the same samples as viz.
// It needs Go (the cluster tier's toolchain) and the Go module proxy or the cache; it skips, saying
// why, only outside CI: with CI=true a missing Go or a failed build fails the test.
test("Prometheus' own parser (expfmt) reads the same samples, types and help", async (t) => {
  const checker = await buildExpfmtChecker();
  if ("blocker" in checker) {
    if (process.env.CI === "true") assert.fail(`expfmt tier cannot run in CI: ${checker.blocker}`);
    t.skip(checker.blocker);
    return;
  }
  const parse = async (text: string) => {
    const child = promisify(execFile)(checker.bin, [], { maxBuffer: 1 << 24 });
    child.child.stdin?.end(text);
    return JSON.parse((await child).stdout) as ExpfmtResult;
  };
  const { body } = await scenario(t).render();
  const go = await parse(body);
  assert.deepEqual(sorted(go.samples), sorted(parsePrometheusText(body)));
  assert.equal(go.types.response_latency_ms, "HISTOGRAM");
  assert.equal(go.types.tcp_open_connections, "GAUGE");
  assert.equal(go.types.identity_cert_refresh_count, "COUNTER");

  const { registry, help, value } = escapes();
  const odd = await parse(registry.render());
  assert.deepEqual(odd.help, { odd_total: help, odd_gauge: help, odd_ms: help });
  assert.deepEqual(
    odd.samples.filter((s) => s.name === "odd_total"),
    [{ name: "odd_total", labels: { v: value, plain: "x" }, value: 2 }],
  );
  assert.deepEqual(sorted(odd.samples), sorted(parsePrometheusText(registry.render())));
});

interface ExpfmtResult {
  types: Record<string, string>;
  help: Record<string, string>;
  samples: Sample[];
}

function sorted(samples: Sample[]): string[] {
  return samples
    .map((s) => JSON.stringify([s.name, Object.entries(s.labels).sort(), s.value]))
    .sort((a, b) => (a < b ? -1 : 1));
}

/** Builds the checker under `~/.cache/trellis/expfmt-check/` (Go's caches make rebuilds quick). */
async function buildExpfmtChecker(): Promise<{ bin: string } | { blocker: string }> {
  const go = ["go", "/usr/local/go/bin/go"].find((g) => spawnSync(g, ["version"]).status === 0);
  if (!go) return { blocker: "Go is not installed (needed to build Prometheus' expfmt parser)" };
  const cache = process.env.TRELLIS_CACHE_DIR ?? join(homedir(), ".cache", "trellis");
  const dir = join(cache, "expfmt-check");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "go.mod"), GO_MOD);
  await writeFile(join(dir, "go.sum"), GO_SUM);
  await writeFile(join(dir, "main.go"), MAIN_GO);
  const bin = join(dir, "expfmt-check");
  try {
    await promisify(execFile)(go, ["build", "-o", bin, "."], {
      cwd: dir,
      timeout: 300_000,
      env: {
        ...process.env,
        GOCACHE: process.env.GOCACHE ?? join(cache, "go", "build"),
        GOMODCACHE: process.env.GOMODCACHE ?? join(cache, "go", "mod"),
        GOTOOLCHAIN: "local",
        CGO_ENABLED: "0",
        GOFLAGS: "-mod=readonly",
      },
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { blocker: `go build of the expfmt checker failed: ${e.stderr || e.message}` };
  }
  return { bin };
}

// Pinned: the same versions and sums as the cluster tier's go.sum, so go.sum is all the checking needed.
const GO_MOD = `module trellis/expfmtcheck

go 1.25.0

require (
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/common v0.70.0
)

require (
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
`;

const GO_SUM = `github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 h1:C3w9PqII01/Oq1c1nUAm88MOHcQC9l5mIlSMApZMrHA=
github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822/go.mod h1:+n7T8mK8HuQTcFwEeznm/DIxMOiR9yIdICNftLE1DvQ=
github.com/prometheus/client_model v0.6.2 h1:oBsgwpGs7iVziMvrGhE53c/GrLUsZdHnqNwqPLxwZyk=
github.com/prometheus/client_model v0.6.2/go.mod h1:y3m2F6Gdpfy6Ut/GBsUqTWZqCUvMVzSfMLjcu6wAwpE=
github.com/prometheus/common v0.70.0 h1:bcpru3tWPVnxGnETLgOV5jbp/JRXgYEyv65CuBLAMMI=
github.com/prometheus/common v0.70.0/go.mod h1:S/SFasQmgGiYH6C81LKCtYa8QACgthGg5zxL2udV7SY=
google.golang.org/protobuf v1.36.11 h1:fV6ZwhNocDyBLK0dj+fg8ektcVegBBuEolpbTQyBNVE=
google.golang.org/protobuf v1.36.11/go.mod h1:HTf+CrKn2C3g5S8VImy6tdcUvCska2kB7j23XfzDpco=
`;

/** Reads the text format on stdin with expfmt and prints types, help and samples as JSON. */
const MAIN_GO = `package main

import (
	"encoding/json"
	"os"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type sample struct {
	Name   string            \`json:"name"\`
	Labels map[string]string \`json:"labels"\`
	Value  float64           \`json:"value"\`
}

func fail(err error) {
	os.Stderr.WriteString(err.Error() + "\\n")
	os.Exit(1)
}

func main() {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fail(err)
	}
	out := struct {
		Types   map[string]string \`json:"types"\`
		Help    map[string]string \`json:"help"\`
		Samples []sample          \`json:"samples"\`
	}{map[string]string{}, map[string]string{}, []sample{}}
	list := []*dto.MetricFamily{}
	for name, mf := range families {
		out.Types[name] = mf.GetType().String()
		out.Help[name] = mf.GetHelp()
		list = append(list, mf)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, list...)
	if err != nil {
		fail(err)
	}
	for _, s := range vec {
		labels := map[string]string{}
		for k, v := range s.Metric {
			if k != model.MetricNameLabel {
				labels[string(k)] = string(v)
			}
		}
		out.Samples = append(out.Samples, sample{string(s.Metric[model.MetricNameLabel]), labels, float64(s.Value)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}
`;
