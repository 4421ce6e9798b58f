// The pure injector: what --manual renders, what each annotation changes, idempotence, the uninject
// round trip over every kind, and every refusal and warning. No files, no processes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { VIZ_DEFAULTS, vizObjects } from "../../../cli/viz/install.js";
import { ANNOTATIONS } from "../../../control/common/annotations.js";
import {
  type InjectOptions,
  type InjectorConfig,
  inject,
  injectorConfig,
  renderReport,
  uninject,
} from "../../../control/injector/index.js";
import { PROXY_ENV } from "../../../lib/proxy-env.js";
import { loadConfig as loadProxyConfig } from "../../../proxy/config.js";
import { defaultInjectorConfig, FIXTURE_ANCHORS } from "../../support/install.js";

// biome-ignore lint/suspicious/noExplicitAny: test objects are walked freely
type O = Record<string, any>;

const ANCHORS = FIXTURE_ANCHORS;
const CONFIG: InjectorConfig = defaultInjectorConfig();
const MANUAL: InjectOptions = { manual: true, controlPlaneNamespace: "trellis" };
const ANNOTATE: InjectOptions = { manual: false, controlPlaneNamespace: "trellis" };

function fixture(name: string): O[] {
  const text = readFileSync(new URL(`../../fixtures/inject/${name}`, import.meta.url), "utf8");
  return parseAllDocuments(text).map((d) => d.toJS() as O);
}

function pod(spec: O, annotations?: O, namespace = "shop"): O {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace, ...(annotations ? { annotations } : {}) },
    spec,
  };
}

function one(obj: unknown, opts = MANUAL) {
  const r = inject(obj, CONFIG, opts);
  assert.equal(r.reports.length, 1);
  return { object: r.object as O, report: r.reports[0] as NonNullable<(typeof r.reports)[0]> };
}

const envOf = (container: O) =>
  Object.fromEntries((container.env as O[]).map((e) => [e.name, e.value ?? e.valueFrom]));

test("install's trellis-config is what the injector reads: install's defaults make a complete config", () => {
  assert.equal(CONFIG.proxyUid, 2102);
  assert.equal(CONFIG.identityServiceName, "spiffe://cluster.local/ns/trellis/sa/trellis-identity");
  assert.throws(() => injectorConfig({ version: "1" }, ANCHORS), /"proxyImage" is missing/);
  assert.throws(() => defaultInjectorConfig("no pem"), /no PEM/);
});

test("--manual renders trellis-init, then the proxy as a native sidecar, before the user's init containers", () => {
  const [web] = fixture("web.yaml");
  const { object, report } = one(web);
  assert.equal(report.status, "injected");
  const spec = object.spec.template.spec;
  assert.deepEqual(
    spec.initContainers.map((c: O) => c.name),
    ["trellis-init", "trellis-proxy", "migrate"],
  );
  assert.deepEqual(
    spec.containers.map((c: O) => c.name),
    ["web"],
  );
  const [init, proxy] = spec.initContainers;
  assert.deepEqual(init.command, ["trellis-controller", "init"]);
  assert.equal(init.securityContext.runAsUser, 0);
  assert.deepEqual(init.securityContext.capabilities.add, ["NET_ADMIN", "NET_RAW"]);
  assert.equal(proxy.restartPolicy, "Always");
  assert.deepEqual(proxy.startupProbe.httpGet, { path: "/ready", port: 4191 });
  assert.equal(proxy.securityContext.runAsUser, 2102);
  assert.equal(proxy.securityContext.runAsNonRoot, true);
  const token = spec.volumes.find((v: O) => v.name === "trellis-identity-token");
  assert.equal(token.projected.sources[0].serviceAccountToken.audience, "identity.trellis.dev");
  assert.equal(object.spec.template.metadata.annotations["trellis.dev/proxy-version"], CONFIG.version);
});

test("the proxy's environment: identity from the downward API, anchors, services, the app's TCP ports", () => {
  const { object } = one(fixture("web.yaml")[0]);
  const env = envOf(object.spec.template.spec.initContainers[1]);
  const names = (object.spec.template.spec.initContainers[1].env as O[]).map((e) => e.name);
  // kubelet expands $(VAR) only from variables defined earlier.
  assert.ok(names.indexOf(PROXY_ENV.POD_NAMESPACE) < names.indexOf(PROXY_ENV.IDENTITY_NAME));
  assert.ok(names.indexOf("_trellis_pod_sa") < names.indexOf(PROXY_ENV.IDENTITY_NAME));
  assert.equal(
    env[PROXY_ENV.IDENTITY_NAME],
    "spiffe://cluster.local/ns/$(TRELLIS_PROXY_POD_NAMESPACE)/sa/$(_trellis_pod_sa)",
  );
  assert.deepEqual(env._trellis_pod_sa, { fieldRef: { fieldPath: "spec.serviceAccountName" } });
  assert.equal(env[PROXY_ENV.IDENTITY_TRUST_ANCHORS], ANCHORS);
  assert.equal(env[PROXY_ENV.IDENTITY_TOKEN_FILE], "/var/run/trellis/identity/token/token");
  assert.equal(env[PROXY_ENV.IDENTITY_SVC_ADDR], "trellis-identity.trellis.svc.cluster.local:8080");
  assert.equal(env[PROXY_ENV.DESTINATION_SVC_ADDR], "trellis-destination.trellis.svc.cluster.local:8086");
  assert.equal(env[PROXY_ENV.INBOUND_PORTS], "8080,9000,9100");
  assert.equal(env[PROXY_ENV.DEPLOYMENT], "web");
  // Every name the proxy is given is one it reads.
  const known = new Set<string>([...Object.values(PROXY_ENV), "TRELLIS_LOG", "_trellis_pod_sa"]);
  for (const name of names) assert.ok(known.has(name), name);
});

test("annotations set the proxy's resources, log level and the ports trellis-init leaves alone", () => {
  const { object, report } = one(fixture("web.yaml")[0]);
  const [init, proxy] = object.spec.template.spec.initContainers;
  assert.deepEqual(proxy.resources, {
    requests: { cpu: "50m", memory: "64Mi" },
    limits: { memory: "128Mi" },
  });
  assert.equal(envOf(proxy).TRELLIS_LOG, "debug");
  assert.ok(init.args.includes("--inbound-ports-to-ignore=4190,4191,9100,9000"), init.args.join(" "));
  assert.ok(init.args.includes("--outbound-ports-to-ignore=5432,6000-6010"));
  assert.ok(init.args.includes("--proxy-uid=2102"));
  assert.deepEqual(report.warnings, ['unknown annotation "trellis.dev/proxy-colour" is ignored']);
});

test("every trellis.dev/ annotation Trellis writes is one the injector knows (the viz Prometheus, were it meshed)", () => {
  const prometheus = vizObjects({ ...VIZ_DEFAULTS }).find((o) => o.kind === "Deployment") as O;
  const annotations = prometheus.spec.template.metadata.annotations;
  assert.ok(annotations[ANNOTATIONS.CONFIG_CHECKSUM]);
  delete annotations[ANNOTATIONS.INJECT];
  const { report } = one(prometheus);
  assert.deepEqual(
    report.warnings.filter((w) => w.includes("annotation")),
    [],
  );
});

test("probes: their ports stay unintercepted, named ports resolved; a probe on the app's own port is warned about", () => {
  const spec = {
    containers: [
      {
        name: "app",
        image: "x",
        ports: [{ name: "http", containerPort: 8080 }],
        livenessProbe: { httpGet: { path: "/live", port: "http" } },
        startupProbe: { grpc: { port: 9090 } },
      },
    ],
  };
  const { object, report } = one(pod(spec));
  const init = object.spec.initContainers[0];
  assert.ok(init.args.includes("--inbound-ports-to-ignore=4190,4191,8080,9090"), init.args.join(" "));
  assert.equal(report.warnings.length, 1);
  assert.match(
    report.warnings[0] as string,
    /livenessProbe of container "app" targets port 8080, the app's port/,
  );
  // The probes themselves are the user's and stay as written.
  assert.deepEqual(object.spec.containers[0].livenessProbe, spec.containers[0]?.livenessProbe);
});

test("--legacy-sidecar puts the proxy first among the containers; --skip-init leaves trellis-init out", () => {
  const spec = { containers: [{ name: "app", image: "x" }] };
  const legacy = one(pod(spec), { ...MANUAL, legacySidecar: true }).object;
  assert.deepEqual(
    legacy.spec.containers.map((c: O) => c.name),
    ["trellis-proxy", "app"],
  );
  assert.equal(legacy.spec.containers[0].restartPolicy, undefined);
  assert.equal(legacy.spec.containers[0].startupProbe, undefined);
  assert.deepEqual(
    legacy.spec.initContainers.map((c: O) => c.name),
    ["trellis-init"],
  );
  const noInit = one(pod(spec), { ...MANUAL, skipInit: true }).object;
  assert.deepEqual(
    noInit.spec.initContainers.map((c: O) => c.name),
    ["trellis-proxy"],
  );
  assert.deepEqual(
    noInit.spec.volumes.map((v: O) => v.name),
    ["trellis-identity-token"],
  );
});

test("every kind: pod templates injected, a Namespace annotated, other kinds passed through unchanged", () => {
  const objects = [...fixture("kinds.yaml"), ...fixture("web.yaml")];
  const r = inject({ apiVersion: "v1", kind: "List", items: objects }, CONFIG, MANUAL);
  assert.deepEqual(
    r.reports.map((x) => `${x.object} ${x.status}`),
    [
      "statefulset/db injected",
      "daemonset/agent injected",
      "replicaset/rs injected",
      "replicationcontroller/rc injected",
      "job/report injected",
      "cronjob/nightly injected",
      "pod/debug injected",
      "deployment/web injected",
      "service/web skipped",
      "configmap/web-config skipped",
    ],
  );
  const items = (r.object as O).items as O[];
  assert.equal(items[5]?.spec.jobTemplate.spec.template.spec.initContainers[1].name, "trellis-proxy");
  assert.deepEqual(items[8], objects[8]);
  assert.deepEqual(items[9], objects[9]);
  const ns = one({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
  assert.equal(ns.report.status, "annotated");
  assert.deepEqual(ns.object.metadata.annotations, { "trellis.dev/inject": "enabled" });
  assert.equal(one("just a string").report.reason, 'document missing "kind" field');
});

test("without --manual the pod template only gets trellis.dev/inject: enabled", () => {
  const web = fixture("web.yaml")[0] as O;
  const { object, report } = one(web, ANNOTATE);
  assert.equal(report.status, "injected");
  const expected = structuredClone(web);
  expected.spec.template.metadata.annotations["trellis.dev/inject"] = "enabled";
  assert.deepEqual(object, expected);
});

test("injecting twice equals injecting once, and uninject restores the original, for every kind and mode", () => {
  const objects = [...fixture("kinds.yaml"), ...fixture("web.yaml"), ...fixture("list.json")];
  const modes: InjectOptions[] = [
    MANUAL,
    ANNOTATE,
    { ...MANUAL, legacySidecar: true },
    { ...MANUAL, skipInit: true },
  ];
  for (const opts of modes)
    for (const original of objects) {
      const frozen = structuredClone(original);
      const once = inject(original, CONFIG, opts).object;
      assert.deepEqual(original, frozen, "the input is never changed");
      assert.deepEqual(inject(once, CONFIG, opts).object, once, `${original.kind} twice`);
      assert.deepEqual(uninject(once).object, original, `${original.kind} round trip`);
    }
  // Switching modes replaces the proxy rather than adding a second one.
  const [web] = fixture("web.yaml");
  const legacy = inject(web, CONFIG, { ...MANUAL, legacySidecar: true }).object;
  assert.deepEqual(inject(legacy, CONFIG, MANUAL).object, inject(web, CONFIG, MANUAL).object);
});

test("uninject reports what it removed, and skips what was never injected", () => {
  const [web] = fixture("web.yaml");
  assert.equal(uninject(web).reports[0]?.status, "skipped");
  assert.equal(uninject(inject(web, CONFIG, MANUAL).object).reports[0]?.status, "uninjected");
});

test("refusals: host networking, another mesh's containers, protected namespaces unless forced", () => {
  const app = { name: "app", image: "x" };
  assert.match(
    one(pod({ hostNetwork: true, containers: [app] })).report.reason ?? "",
    /hostNetwork is enabled/,
  );
  for (const [where, name] of [
    ["containers", "istio-proxy"],
    ["initContainers", "istio-init"],
    ["containers", "linkerd-proxy"],
    ["initContainers", "linkerd-init"],
  ] as const) {
    const spec: O = { containers: [app] };
    spec[where] = [...(spec[where] ?? []), { name, image: "other-mesh" }];
    const { report } = one(pod(spec));
    assert.equal(report.status, "refused", name);
    assert.match(report.reason ?? "", new RegExp(`"${name}": a pod joins one mesh only`));
  }
  for (const ns of ["kube-system", "trellis"]) {
    assert.equal(one(pod({ containers: [app] }, undefined, ns)).report.status, "refused");
    assert.equal(
      one(pod({ containers: [app] }, undefined, ns), { ...MANUAL, force: true }).report.status,
      "injected",
    );
    assert.equal(
      one({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }).report.status,
      "refused",
    );
  }
  // A namespace the object does not name comes from the caller (the webhook's request).
  const bare = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [app] } };
  assert.equal(one(bare, { ...MANUAL, namespace: "kube-system" }).report.status, "refused");
  const bad = one(
    pod(
      { containers: [app] },
      { "trellis.dev/skip-inbound-ports": "80,http", "trellis.dev/proxy-cpu-limit": "lots" },
    ),
  );
  assert.equal(bad.report.status, "refused");
  assert.match(bad.report.reason ?? "", /"http" is not a port/);
  assert.match(bad.report.reason ?? "", /"lots" is not a Kubernetes quantity/);
});

test("warnings: UDP ports and automountServiceAccountToken: false say what they mean for the proxy; disabled skips", () => {
  const [dns, legacy] = fixture("warnings.yaml");
  const d = one(dns).report;
  assert.equal(d.status, "injected");
  assert.match(d.warnings.join("\n"), /"protocol: UDP" \(port 53\): the proxy carries TCP only/);
  assert.match(
    d.warnings.join("\n"),
    /automountServiceAccountToken: false: the proxy still proves its identity/,
  );
  const l = one(legacy);
  assert.equal(l.report.status, "skipped");
  assert.deepEqual(l.object, legacy);
  // A skipped workload is left as it is, whatever the options.
  assert.deepEqual(one(legacy, { ...MANUAL, opaquePorts: ["7000"] }).object, legacy);
  assert.equal(
    renderReport([d, l.report]),
    [
      "",
      `‼ deployment/dns: ${d.warnings[0]}`,
      `‼ deployment/dns: ${d.warnings[1]}`,
      `‼ deployment/dns: ${d.warnings[2]}`,
      '‼ deployment/legacy: "trellis.dev/inject: disabled" annotation set on the pod template',
      "",
      'deployment "dns" injected',
      'deployment "legacy" skipped: annotated "trellis.dev/inject: disabled"',
      "",
      "",
    ].join("\n"),
  );
});

test("opaque ports annotate pod templates, Namespaces and Services; uninject keeps them, they describe the app", () => {
  const opts = { ...MANUAL, opaquePorts: ["7000", "9000-9010"] };
  const objects = [
    ...fixture("web.yaml"),
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  ];
  const r = inject({ apiVersion: "v1", kind: "List", items: objects }, CONFIG, opts);
  assert.deepEqual(
    r.reports.map((x) => `${x.object} ${x.status}`),
    [
      "deployment/web injected",
      "service/web annotated",
      "configmap/web-config skipped",
      "namespace/shop annotated",
    ],
  );
  const items = (r.object as O).items as O[];
  for (const annotations of [
    items[0]?.spec.template.metadata.annotations,
    items[1]?.metadata.annotations,
    items[3]?.metadata.annotations,
  ])
    assert.equal(annotations["trellis.dev/opaque-ports"], "7000,9000-9010");
  assert.deepEqual(inject(r.object, CONFIG, opts).object, r.object);
  const back = uninject(r.object).object as O;
  assert.equal(
    back.items[0].spec.template.metadata.annotations["trellis.dev/opaque-ports"],
    "7000,9000-9010",
  );
  assert.equal(back.items[0].spec.template.spec.initContainers.length, 1, "only the user's init container");
  const proxy = (items[0]?.spec.template.spec.initContainers ?? []).find(
    (c: O) => c.name === "trellis-proxy",
  );
  const env = Object.fromEntries(((proxy?.env ?? []) as O[]).map((e) => [e.name, e.value]));
  assert.equal(
    env[PROXY_ENV.OPAQUE_PORTS],
    "7000,9000-9010",
    "the proxy is told the workload's opaque ports",
  );
});

test("the proxy accepts the environment inject renders, once the kubelet has filled in the downward API", () => {
  const { object } = one(fixture("web.yaml")[0]);
  const proxy = object.spec.template.spec.initContainers[1] as O;
  const pod: Record<string, string> = {
    "metadata.namespace": "shop",
    "metadata.name": "web-5d8f-abcde",
    "spec.serviceAccountName": "web",
  };
  const env: Record<string, string> = {};
  for (const e of proxy.env as O[]) {
    const raw: string = e.value ?? pod[e.valueFrom.fieldRef.fieldPath];
    // $(VAR) expands from variables defined earlier, as the kubelet does.
    env[e.name] = raw.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => env[name] ?? m);
  }
  const config = loadProxyConfig(env);
  assert.equal(config.identity.name, "spiffe://cluster.local/ns/shop/sa/web");
  assert.equal(config.identity.tokenFile, "/var/run/trellis/identity/token/token");
  assert.deepEqual([...config.inboundPorts], [8080, 9000, 9100]);
  assert.equal(config.destinationService?.contextNamespace, "shop");
  assert.deepEqual(config.pod, { namespace: "shop", name: "web-5d8f-abcde", deployment: "web" });
  // The workload's trellis.dev/opaque-ports replaces the proxy's default list.
  assert.equal(config.opaquePorts.text, "7000");
  assert.ok(config.opaquePorts.has(7000) && !config.opaquePorts.has(3306));
});
