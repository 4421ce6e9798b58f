// The install's objects, built by the pure functions of cli/install/ for the fixed identity files: every
// built-in object has only fields Kubernetes knows, the Deployments hang together (selectors, ports,
// probes, volumes, accounts), the controllers' arguments are flags their own commands accept, the RBAC is
// manifests/rbac.yaml's, and --namespace, --ha and the identity options change what they should.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { V1Container, V1Deployment, V1PodDisruptionBudget, V1Service } from "@kubernetes/client-node";
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import type { Command } from "commander";
import {
  type IdentityPki,
  type InjectorTls,
  type InstallFlags,
  installObjects,
  type K8sObject,
  KIND_ORDER,
  manifestsDir,
  quantityValue,
  resolveValues,
} from "../../../cli/install/index.js";
import { readObjects } from "../../../cli/install/manifests.js";
import { destinationCommand } from "../../../control/destination/command.js";
import { identityCommand } from "../../../control/identity/command.js";
import { injectorCommand } from "../../../control/injector/command.js";
import { installFlags } from "../../support/install.js";
import { repoRoot } from "../../support/process.js";

const F = join(repoRoot, "test/fixtures/install");
const PKI: IdentityPki = {
  trustAnchorsPem: readFileSync(join(F, "ca.crt"), "utf8"),
  issuer: {
    certPem: readFileSync(join(F, "issuer.crt"), "utf8"),
    keyPem: readFileSync(join(F, "issuer.key"), "utf8"),
  },
};
const TLS: InjectorTls = {
  caPem: readFileSync(join(F, "injector-ca.crt"), "utf8"),
  certPem: readFileSync(join(F, "injector.crt"), "utf8"),
  keyPem: readFileSync(join(F, "injector.key"), "utf8"),
};

const flags = installFlags;

function render(extra: Partial<InstallFlags> = {}, pki: IdentityPki = PKI): K8sObject[] {
  return installObjects(resolveValues(flags(extra)), pki, TLS);
}

const MODELS: Record<string, string> = {
  Namespace: "V1Namespace",
  ServiceAccount: "V1ServiceAccount",
  ClusterRole: "V1ClusterRole",
  ClusterRoleBinding: "V1ClusterRoleBinding",
  Role: "V1Role",
  RoleBinding: "V1RoleBinding",
  MutatingWebhookConfiguration: "V1MutatingWebhookConfiguration",
  ConfigMap: "V1ConfigMap",
  Secret: "V1Secret",
  Service: "V1Service",
  Deployment: "V1Deployment",
  PodDisruptionBudget: "V1PodDisruptionBudget",
};

const of = <T>(objects: K8sObject[], kind: string) =>
  objects.filter((o) => o.kind === kind) as unknown as T[];
const where = (o: { kind?: string; metadata?: { name?: string } }) => `${o.kind}/${o.metadata?.name}`;

test("every object has only fields its Kubernetes type has (a misspelt field would be dropped on the way through)", () => {
  for (const objects of [render(), render({ ha: true })])
    for (const o of objects) {
      const model = MODELS[o.kind];
      assert.ok(model, `no model for ${o.kind}`);
      const roundTrip = ObjectSerializer.serialize(ObjectSerializer.deserialize(o, model, ""), model, "");
      // JSON drops the keys the serializer leaves undefined.
      assert.deepEqual(JSON.parse(JSON.stringify(roundTrip)), o, where(o));
    }
});

test("objects come in apply order, the namespace first; names are unique", () => {
  const objects = render({ ha: true });
  assert.equal(objects[0]?.kind, "Namespace");
  const ranks = objects.map((o) => (KIND_ORDER as readonly string[]).indexOf(o.kind));
  assert.deepEqual(
    ranks,
    [...ranks].sort((a, b) => a - b),
  );
  const ids = objects.map(where);
  assert.equal(new Set(ids).size, ids.length);
});

test("the RBAC and the namespace are manifests/'s, unchanged but for the version label", () => {
  const written = ["namespace.yaml", "rbac.yaml"].flatMap((f) => readObjects(join(manifestsDir(), f)));
  const rendered = render().filter((o) => written.some((w) => where(w) === where(o)));
  assert.equal(rendered.length, written.length);
  for (const w of written) {
    const r = rendered.find((o) => where(o) === where(w)) as K8sObject;
    const { "trellis.dev/version": version, ...labels } = r.metadata.labels ?? {};
    assert.ok(version);
    assert.deepEqual({ ...r, metadata: { ...r.metadata, labels } }, w, where(w));
  }
});

/** The container's arguments, parsed by the controller's own command (its action replaced). */
async function parseWithController(c: V1Container): Promise<Record<string, unknown>> {
  const [program, sub] = c.command ?? [];
  assert.equal(program, "trellis-controller");
  const command: Command =
    sub === "identity" ? identityCommand() : sub === "injector" ? injectorCommand() : destinationCommand();
  assert.equal(command.name(), sub);
  let parsed: Record<string, unknown> = {};
  command.exitOverride().action((opts: Record<string, unknown>) => {
    parsed = opts;
  });
  command.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  await command.parseAsync(c.args ?? [], { from: "user" });
  return parsed;
}

test("each Deployment hangs together: selector, ports, probes, volumes, account, security, resources, and flags its controller accepts", async () => {
  const objects = render();
  const deployments = of<V1Deployment>(objects, "Deployment");
  assert.deepEqual(deployments.map(where), [
    "Deployment/trellis-identity",
    "Deployment/trellis-destination",
    "Deployment/trellis-injector",
  ]);
  const names = new Set(objects.map(where));
  for (const d of deployments) {
    const pod = d.spec?.template;
    const spec = pod?.spec;
    assert.ok(spec, where(d));
    for (const [k, v] of Object.entries(d.spec?.selector.matchLabels ?? {}))
      assert.equal(pod?.metadata?.labels?.[k], v, `${where(d)}: selector ${k}`);
    assert.equal(pod?.metadata?.annotations?.["trellis.dev/inject"], "disabled");
    assert.ok(names.has(`ServiceAccount/${spec.serviceAccountName}`), `${where(d)}: its ServiceAccount`);
    assert.equal(spec.securityContext?.runAsNonRoot, true);
    assert.deepEqual(
      spec.containers.map((c) => c.name),
      [d.metadata?.name?.replace("trellis-", "")],
      "one container, no proxy sidecar",
    );
    for (const c of spec.containers) {
      const ports = new Set((c.ports ?? []).map((p) => p.name));
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        assert.ok(probe?.httpGet, `${where(d)}: an HTTP probe`);
        assert.ok(ports.has(String(probe.httpGet.port)), `${where(d)}: probe port ${probe.httpGet.port}`);
      }
      assert.equal(c.readinessProbe?.httpGet?.path, "/ready");
      assert.equal(c.livenessProbe?.httpGet?.path, "/live");
      assert.deepEqual(c.securityContext, {
        runAsNonRoot: true,
        runAsUser: 2103,
        runAsGroup: 2103,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${where(d)}: requests`);
      assert.equal(c.resources?.limits, undefined, "limits only with --ha");
      const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
      for (const m of c.volumeMounts ?? []) {
        const v = volumes.get(m.name);
        assert.ok(v, `${where(d)}: volume ${m.name}`);
        assert.equal(m.readOnly, true);
        if (v.configMap)
          assert.ok(names.has(`ConfigMap/${v.configMap.name}`), `${where(d)}: ${v.configMap.name}`);
        if (v.secret)
          assert.ok(names.has(`Secret/${v.secret.secretName}`), `${where(d)}: ${v.secret.secretName}`);
      }
      const parsed = await parseWithController(c);
      for (const p of c.ports ?? []) {
        const flag = p.name === "admin-http" ? "adminListen" : "listen";
        assert.equal(
          (parsed[flag] as { port: number }).port,
          p.containerPort,
          `${where(d)}: --${flag} and port ${p.name}`,
        );
      }
      // Files the flags name are under a mount.
      for (const [key, value] of Object.entries(parsed))
        if (/File$/.test(key))
          assert.ok(
            (c.volumeMounts ?? []).some((m) => String(value).startsWith(`${m.mountPath}/`)),
            `${where(d)}: ${key}=${value} is not under a mount`,
          );
    }
  }
});

test("the destination runs in-cluster with mutual TLS: --source kubernetes and a certificate from identity through its projected token", async () => {
  const d = of<V1Deployment>(render(), "Deployment").find((x) => x.metadata?.name === "trellis-destination");
  const c = d?.spec?.template.spec?.containers[0] as V1Container;
  const parsed = await parseWithController(c);
  assert.equal(parsed.source, "kubernetes");
  assert.deepEqual(parsed.identitySvcAddr, {
    host: "trellis-identity.trellis.svc.cluster.local",
    port: 8080,
  });
  const token = d?.spec?.template.spec?.volumes?.find((v) => v.projected)?.projected?.sources?.[0]
    ?.serviceAccountToken;
  assert.equal(token?.audience, "identity.trellis.dev");
  const mount = c.volumeMounts?.find((m) => m.name === "identity-token");
  assert.equal(parsed.identityTokenFile, `${mount?.mountPath}/${token?.path}`);
});

test("Services select their Deployment's pods and target its serving port (gRPC, or the webhook's on 443)", () => {
  const objects = render();
  const deployments = of<V1Deployment>(objects, "Deployment");
  for (const s of of<V1Service>(objects, "Service")) {
    const d = deployments.find((x) => x.metadata?.name === s.metadata?.name);
    assert.ok(d, `${where(s)}: a Deployment of the same name`);
    for (const [k, v] of Object.entries(s.spec?.selector ?? {}))
      assert.equal(d.spec?.template.metadata?.labels?.[k], v, `${where(s)}: selector ${k}`);
    const c = d.spec?.template.spec?.containers[0];
    for (const p of s.spec?.ports ?? []) {
      assert.ok(
        c?.ports?.some((cp) => cp.name === p.targetPort),
        `${where(s)}: ${p.name}`,
      );
      const container = c?.ports?.find((cp) => cp.name === p.targetPort)?.containerPort;
      assert.equal(
        p.port,
        s.metadata?.name === "trellis-injector" ? 443 : container,
        `${where(s)}: ${p.name}`,
      );
    }
  }
});

test("--ha: 3 replicas, a PodDisruptionBudget per Deployment, anti-affinity on its own pods, requests and limits", () => {
  const objects = render({ ha: true });
  const pdbs = of<V1PodDisruptionBudget>(objects, "PodDisruptionBudget");
  for (const d of of<V1Deployment>(objects, "Deployment")) {
    assert.equal(d.spec?.replicas, 3);
    const pdb = pdbs.find((p) => p.metadata?.name === d.metadata?.name);
    assert.deepEqual(pdb?.spec?.selector?.matchLabels, d.spec?.selector.matchLabels, where(d));
    assert.equal(pdb?.spec?.maxUnavailable, 1);
    const anti =
      d.spec?.template.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0];
    assert.deepEqual(anti?.labelSelector?.matchLabels, d.spec?.selector.matchLabels);
    assert.equal(anti?.topologyKey, "kubernetes.io/hostname");
    const r = d.spec?.template.spec?.containers[0]?.resources;
    assert.ok(r?.requests?.cpu && r.requests.memory && r.limits?.cpu && r.limits.memory, where(d));
  }
  assert.equal(of(render(), "PodDisruptionBudget").length, 0);
  const config = objects.find((o) => o.metadata.name === "trellis-config")?.data as Record<string, string>;
  assert.equal(config.proxyMemoryLimit, "256Mi");
  assert.equal(config.highAvailability, "true");
});

test("--namespace moves everything there, renames the cluster-scoped objects, and points the controllers at it", async () => {
  const objects = render({ namespace: "mesh" });
  for (const o of objects) {
    assert.equal(o.metadata.labels?.["trellis.dev/control-plane-ns"], "mesh", where(o));
    if (o.kind === "Namespace") assert.equal(o.metadata.name, "mesh");
    else if (o.kind.startsWith("Cluster") || o.kind === "MutatingWebhookConfiguration")
      assert.match(o.metadata.name, /^trellis-mesh-/, where(o));
    else assert.equal(o.metadata.namespace, "mesh", where(o));
    for (const s of (o.subjects as { namespace: string }[] | undefined) ?? [])
      assert.equal(s.namespace, "mesh");
    const ref = o.roleRef as { kind: string; name: string } | undefined;
    if (ref)
      assert.ok(
        objects.some((x) => x.kind === ref.kind && x.metadata.name === ref.name),
        where(o),
      );
  }
  const injector = of<V1Deployment>(objects, "Deployment")[2]?.spec?.template.spec
    ?.containers[0] as V1Container;
  assert.equal((await parseWithController(injector)).controlPlaneNamespace, "mesh");
  const webhook = objects.find((o) => o.kind === "MutatingWebhookConfiguration")?.webhooks as {
    clientConfig: { service: { namespace: string } };
    namespaceSelector: { matchExpressions: { values: string[] }[] };
  }[];
  assert.equal(webhook[0]?.clientConfig.service.namespace, "mesh");
  assert.deepEqual(webhook[0]?.namespaceSelector.matchExpressions[0]?.values, ["kube-system", "mesh"]);
  const destination = of<V1Deployment>(objects, "Deployment")[1]?.spec?.template.spec
    ?.containers[0] as V1Container;
  const parsed = await parseWithController(destination);
  assert.equal(parsed.identityNamespace, "mesh");
  assert.equal((parsed.identitySvcAddr as { host: string }).host, "trellis-identity.mesh.svc.cluster.local");
});

test("trust domain, registry, tag and proxy settings reach the controllers and trellis-config", async () => {
  const objects = render({
    clusterDomain: "corp.example",
    registry: "registry.example:5000/mesh",
    imageTag: "dev-1",
    proxyLogLevel: "debug",
    proxyCpuRequest: "250m",
    proxyMemoryLimit: "1Gi",
    identityIssuanceLifetime: "12h",
  });
  const config = objects.find((o) => o.metadata.name === "trellis-config")?.data as Record<string, string>;
  assert.equal(config.trustDomain, "corp.example", "the trust domain defaults to the cluster domain");
  assert.equal(config.proxyImage, "registry.example:5000/mesh/trellis:dev-1");
  assert.deepEqual(
    [config.proxyLogLevel, config.proxyCpuRequest, config.proxyCpuLimit, config.proxyMemoryLimit],
    ["debug", "250m", undefined, "1Gi"],
  );
  assert.equal(config.identityServiceName, "spiffe://corp.example/ns/trellis/sa/trellis-identity");
  for (const d of of<V1Deployment>(objects, "Deployment")) {
    const c = d.spec?.template.spec?.containers[0] as V1Container;
    assert.equal(c.image, config.proxyImage);
    const parsed = await parseWithController(c);
    // The injector reads the trust domain and proxy settings from trellis-config, not from flags.
    if (d.metadata?.name === "trellis-injector") continue;
    assert.equal(parsed.trustDomain, "corp.example");
    if (d.metadata?.name === "trellis-identity") assert.equal(parsed.issuanceLifetime, 12 * 3600_000);
    else assert.equal(parsed.clusterDomain, "corp.example");
  }
  const other = render({ trustDomain: "mesh.example" });
  const otherConfig = other.find((o) => o.metadata.name === "trellis-config")?.data as Record<string, string>;
  assert.equal(otherConfig.trustDomain, "mesh.example");
  assert.equal(otherConfig.clusterDomain, "cluster.local");
});

test("the issuer Secret is kubernetes.io/tls with the given PEMs, and absent with an external issuer", () => {
  const secret = render().find((o) => o.metadata.name === "trellis-identity-issuer") as K8sObject & {
    type: string;
    data: Record<string, string>;
  };
  assert.equal(secret.type, "kubernetes.io/tls");
  const decode = (k: string) => Buffer.from(secret.data[k] ?? "", "base64").toString();
  assert.equal(decode("tls.crt"), PKI.issuer?.certPem);
  assert.equal(decode("tls.key"), PKI.issuer?.keyPem);
  assert.equal(
    render({ identityExternalIssuer: true }, { trustAnchorsPem: PKI.trustAnchorsPem }).filter(
      (o) => o.metadata.name === "trellis-identity-issuer",
    ).length,
    0,
  );
});

test("quantities compare by value, and a proxy request above its limit is a usage error naming the flag", () => {
  assert.equal(quantityValue("100m"), 0.1);
  assert.equal(quantityValue("64Mi"), 64 * 2 ** 20);
  assert.equal(quantityValue("1G"), 1e9);
  assert.equal(quantityValue("1e3"), 1000);
  assert.ok(Number.isNaN(quantityValue("lots")));
  assert.ok(Number.isNaN(quantityValue("-1")));
  assert.throws(
    () => resolveValues(flags({ proxyMemoryRequest: "2Gi", proxyMemoryLimit: "1Gi" })),
    /--proxy-memory-request 2Gi is above/,
  );
  assert.throws(
    () => resolveValues(flags({ ha: true, proxyCpuRequest: "2" })),
    /--proxy-cpu-request 2 is above the proxy's cpu limit 1/,
  );
  assert.doesNotThrow(() => resolveValues(flags({ proxyMemoryRequest: "512Mi", proxyMemoryLimit: "1Gi" })));
});
