/**
 * `meshctl viz stat|edges|routes|dashboard`: golden metrics, who talks to whom, and per-route metrics,
 * from a cluster (its viz Prometheus, or its meshed pods' proxies, through the API server), a
 * Prometheus, or a running demo's proxies. Each action gathers from the source, computes rows with
 * viz/'s pure functions, and renders a table or JSON. `viz install|uninstall|check` live in
 * ./viz-install.ts and ./viz-check.ts.
 */
import { Command, Option } from "commander";
import { edgeRows, gatherEdges } from "../../viz/edges.js";
import { gatherStat, splitRows, statPlan, statRows } from "../../viz/golden.js";
import { type Output, renderEdges, renderRoutes, renderSplit, renderStat } from "../../viz/render.js";
import { KIND_NAMES, parseResource, type Resource, shortKind } from "../../viz/resources.js";
import { gatherRoutes, routeRows } from "../../viz/routes.js";
import { SourceError } from "../../viz/source.js";
import { kubeOptions } from "../cluster.js";
import { InputError, UsageError } from "../errors.js";
import { loadDashboard } from "../viz/dashboard-loader.js";
import { VIZ_NAMESPACE } from "../viz/install.js";
import { chooseSource, loadSplits, type SourceOptions } from "../viz/source.js";
import { requireTerminal } from "../viz/terminal.js";
import { vizCheckCommand } from "./viz-check.js";
import { vizInstallCommand, vizUninstallCommand } from "./viz-install.js";

interface VizOptions extends SourceOptions {
  output: Output;
  from?: string;
  to?: string;
}

function sourceOptions(cmd: Command, withWindow: boolean): Command {
  cmd
    .option("--demo", "scrape the proxies of the running `meshctl demo` (the newest one)", false)
    .option("--demo-state <path>", "scrape the demo whose state file this is (see `meshctl demo --help`)")
    .option("--prometheus-url <url>", "query this Prometheus, e.g. http://127.0.0.1:9090")
    .option(
      "--direct",
      "in a cluster: scrape the meshed pods' proxies through the API server even when the viz Prometheus is installed",
      false,
    )
    .option("--viz-namespace <ns>", "in a cluster: the namespace of the viz Prometheus", VIZ_NAMESPACE);
  kubeOptions(cmd);
  cmd
    .option("-n, --namespace <ns>", "namespace (default: the demo's, the kubeconfig context's, or `default`)")
    .option("-A, --all-namespaces", "every namespace", false)
    .option(
      "--store <dir>",
      "the destination service's local store, for TrafficSplits (default: the demo's, or the cluster's)",
    )
    .addOption(
      new Option("-o, --output <format>", "table, wide or json")
        .choices(["table", "wide", "json"])
        .default("table"),
    );
  if (withWindow)
    cmd.option(
      "-t, --time-window <duration>",
      "the window the numbers cover (default 1m from Prometheus, 10s from a direct scrape)",
    );
  return cmd;
}

function resourceArg(text: string, what: string): Resource {
  const r = parseResource(text);
  if ("error" in r) throw new UsageError(`${what}: ${r.error}`);
  return r;
}

const windowOf = (opts: VizOptions & { timeWindow?: string }): SourceOptions => ({
  ...opts,
  window: opts.timeWindow,
});

const write = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/** Sources fail with a SourceError; the user sees one line and exit 1. */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof SourceError) throw new InputError(err.message);
    throw err;
  }
}

const where = (ns: string | undefined) => (ns === undefined ? "in any namespace" : `in namespace ${ns}`);

function statCommand(): Command {
  return sourceOptions(new Command("stat"), true)
    .description("success rate, requests per second, latency percentiles and connections per resource")
    .argument("<resource>", `KIND or KIND/NAME; KIND is one of ${KIND_NAMES}`)
    .option("--from <resource>", "only requests from this workload (KIND/NAME)")
    .option("--to <resource>", "only requests to this resource (KIND/NAME)")
    .addHelpText(
      "after",
      `
Without --demo or --prometheus-url, viz reads the cluster of the kubeconfig: the Prometheus of
\`meshctl viz install\` when it is there (over 1 m), else each meshed pod's proxy (over 10 s), both
through the API server.

Examples:
  meshctl viz stat deploy -n shop                      # the cluster's workloads in shop
  meshctl viz stat deploy/web -n shop --direct -t 30s  # web's proxies themselves, over 30 s
  meshctl viz stat deploy --demo                       # every workload of the running demo, over 10 s
  meshctl viz stat deploy/web --to svc/books --demo    # web's calls to books, seen by web's proxy
  meshctl viz stat trafficsplit --demo -o wide         # one row per backend of each split, with its weight
  meshctl viz stat deploy -A --prometheus-url http://127.0.0.1:9090 -t 1m -o json`,
    )
    .action(async (text: string, opts: VizOptions & { timeWindow?: string }) => {
      const resource = resourceArg(text, "resource");
      const from = opts.from ? resourceArg(opts.from, "--from") : undefined;
      const to = opts.to ? resourceArg(opts.to, "--to") : undefined;
      const chosen = await chooseSource(windowOf(opts));
      const split = resource.kind === "trafficsplit";
      const splits = split ? await guarded(() => chosen.splits()) : [];
      const wanted = splits.filter(
        (s) =>
          (!resource.name || s.name === resource.name) &&
          (chosen.namespace === undefined || s.namespace === chosen.namespace),
      );
      if (split && wanted.length === 0)
        throw new InputError(
          resource.name
            ? `trafficsplit/${resource.name} not found ${where(chosen.namespace)}`
            : `no TrafficSplit ${where(chosen.namespace)}`,
        );
      const plan = statPlan({
        resource: split ? { kind: "service" } : resource,
        namespace: chosen.namespace,
        from,
        to,
      });
      if ("error" in plan) throw new UsageError(plan.error);
      const rows = await guarded(async () =>
        statRows(await gatherStat(await chosen.open("window"), plan), plan.by, plan.ownProxies),
      );
      if (split)
        return write(
          renderSplit(
            wanted.flatMap((s) => splitRows(s, rows)),
            opts.output,
          ),
        );
      if (resource.name && !to && !from && rows.length === 0)
        throw new InputError(
          `${shortKind(resource.kind)}/${resource.name} not found ${where(chosen.namespace)}`,
        );
      write(renderStat(rows, opts.output, chosen.namespace === undefined));
    });
}

function edgesCommand(): Command {
  return sourceOptions(new Command("edges"), false)
    .description("who calls whom, and whether the connection is mTLS with which identities")
    .argument("<kind>", "deploy, sts, ds or pod")
    .addHelpText(
      "after",
      `
Examples:
  meshctl viz edges deploy -n shop           # in the cluster of the kubeconfig
  meshctl viz edges deploy --demo            # SRC DST SRC_NS DST_NS SECURED
  meshctl viz edges deploy --demo -o wide    # adds CLIENT_ID and SERVER_ID`,
    )
    .action(async (text: string, opts: VizOptions) => {
      const resource = resourceArg(text, "kind");
      if (resource.name) throw new UsageError(`edges takes a kind, not ${text}`);
      if (resource.kind === "service" || resource.kind === "trafficsplit" || resource.kind === "namespace")
        throw new UsageError(`edges are between workloads: use deploy, sts, ds or pod, not ${text}`);
      const chosen = await chooseSource(opts);
      const rows = await guarded(async () =>
        edgeRows(
          await gatherEdges(await chosen.open("snapshot"), resource.kind, chosen.namespace),
          resource.kind,
        ),
      );
      write(renderEdges(rows, opts.output));
    });
}

function routesCommand(): Command {
  return sourceOptions(new Command("routes"), true)
    .description("golden metrics per ServiceProfile route, with [DEFAULT] for requests no route matched")
    .argument("<resource>", "the clients (deploy/NAME, …) or the service (svc/NAME) whose routes to show")
    .option("--to <resource>", "only the routes of this service (svc/NAME)")
    .addHelpText(
      "after",
      `
Examples:
  meshctl viz routes deploy/web -n shop               # in the cluster of the kubeconfig
  meshctl viz routes svc/books --demo                 # every client's requests to books, by route
  meshctl viz routes deploy/web --to svc/books --demo # web's requests to books, by route`,
    )
    .action(async (text: string, opts: VizOptions & { timeWindow?: string }) => {
      const resource = resourceArg(text, "resource");
      const to = opts.to ? resourceArg(opts.to, "--to") : undefined;
      if (to && to.kind !== "service") throw new UsageError("--to takes a service: svc/NAME");
      const chosen = await chooseSource(windowOf(opts));
      const rows = await guarded(async () =>
        routeRows(
          await gatherRoutes(await chosen.open("window"), { resource, namespace: chosen.namespace, to }),
        ),
      );
      if (rows.length === 0 && resource.name)
        throw new InputError(
          `no requests from or to ${shortKind(resource.kind)}/${resource.name} ${where(chosen.namespace)}`,
        );
      write(renderRoutes(rows, opts.output));
    });
}

function dashboardCommand(): Command {
  return sourceOptions(new Command("dashboard"), false)
    .description(
      "a live terminal view: workloads with golden metrics and sparklines, the selected one's edges and routes",
    )
    .addHelpText(
      "after",
      `
Keys: ↑/↓ (or k/j) select a workload, n the next namespace, s the next sort (name, rps, success, p99),
q or Ctrl-C quit. Refreshes every 3 s; needs a terminal (it uses the alternate screen and restores the
terminal when it quits). -n picks the namespace shown first; n cycles through those in the data.
With --demo (or --store DIR) it also shows the TrafficSplits of the store, as they are edited.

Examples:
  meshctl viz dashboard --demo
  meshctl viz dashboard -n shop --prometheus-url http://127.0.0.1:9090`,
    )
    .action(async (opts: VizOptions) => {
      requireTerminal();
      // A direct scrape's window is the refresh; Prometheus answers over its usual minute.
      const chosen = await chooseSource({ ...opts, window: undefined, directWindow: "3s" });
      const store = opts.store ?? chosen.demo?.storeDir;
      const { runDashboard } = await loadDashboard();
      await runDashboard(chosen, {
        note: store && `store ${store}: edit its TrafficSplits, the rows follow`,
        splits: store ? () => loadSplits(opts, chosen.demo) : undefined,
      });
    });
}

export function vizCommand(): Command {
  return new Command("viz")
    .description(
      "golden metrics in the terminal: stat, edges and routes, from a cluster, a Prometheus or a running demo",
    )
    .addCommand(statCommand())
    .addCommand(edgesCommand())
    .addCommand(routesCommand())
    .addCommand(dashboardCommand())
    .addCommand(vizInstallCommand())
    .addCommand(vizUninstallCommand())
    .addCommand(vizCheckCommand());
}
