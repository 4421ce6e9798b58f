// The injector webhook's TLS as install makes it: generated, a serving certificate for the Service's
// name that a TLS client trusting only the CA accepts; given as files, checked as the API server will
// check them (name, validity, chain, key), each fault named with its flag and file. And the webhook
// configuration it goes into: what the API server is told about calling the injector.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import type { V1MutatingWebhookConfiguration, V1Secret, V1Service } from "@kubernetes/client-node";
import {
  generateInjectorTls,
  injectorTls,
  installObjects,
  resolveValues,
} from "../../../cli/install/index.js";
import { installFlags } from "../../support/install.js";
import { createCa, issueCert } from "../../support/pki.js";
import { repoRoot } from "../../support/process.js";

const NAME = "trellis-injector.trellis.svc";

test("generated: a one-year serving certificate for the Service's name, trusted through the CA alone", async () => {
  const tls = await generateInjectorTls(NAME);
  const cert = new X509Certificate(tls.certPem);
  const ca = new X509Certificate(tls.caPem);
  assert.equal(cert.subjectAltName, `DNS:${NAME}`);
  assert.equal(cert.ca, false);
  assert.ok(ca.ca);
  assert.ok(cert.verify(ca.publicKey));
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 364 && days < 366, `${days} days`);
  assert.ok(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(tls.keyPem)));
  // A TLS client verifying the name against the CA, as the API server does, completes the handshake.
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => res.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, servername: NAME, ca: tls.caPem }, () => {
        socket.end();
        resolve();
      });
      socket.on("error", reject);
    });
  } finally {
    server.close();
  }
  // Every run makes a new pair.
  assert.notEqual((await generateInjectorTls(NAME)).caPem, tls.caPem);
});

test("given files are checked: each fault is named with its flag and file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "trellis-webhook-tls-"));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const ca = await createCa("webhook-ca");
  const good = await issueCert(ca, { commonName: NAME, dns: [NAME], usage: "server" });
  const caFile = write("ca.crt", ca.certPem);
  const certFile = write("tls.crt", good.certPem);
  const keyFile = write("tls.key", good.keyPem);
  const given = (o: { caFile?: string; certificateFile?: string; keyFile?: string } = {}, now?: Date) =>
    injectorTls({
      caFile,
      certificateFile: certFile,
      keyFile,
      ...o,
      serviceName: NAME,
      ...(now ? { now } : {}),
    });

  const tls = await given();
  assert.equal(tls.certPem.trim(), good.certPem.trim());
  assert.equal(tls.caPem.trim(), ca.certPem.trim());

  const expired = await issueCert(ca, {
    dns: [NAME],
    notBefore: new Date(Date.now() - 3 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const elsewhere = await issueCert(ca, { dns: ["trellis-injector.mesh.svc"] });
  const noSan = await issueCert(ca, { commonName: NAME });
  const stranger = await createCa("stranger");
  const cases: [Parameters<typeof given>[0], RegExp][] = [
    [
      { certificateFile: write("expired.crt", expired.certPem) },
      /expired\.crt: the certificate is valid from .* not now/,
    ],
    [
      { certificateFile: write("mesh.crt", elsewhere.certPem) },
      /names trellis-injector\.mesh\.svc, not trellis-injector\.trellis\.svc/,
    ],
    [
      { certificateFile: write("nosan.crt", noSan.certPem) },
      /names no DNS name, not trellis-injector\.trellis\.svc/,
    ],
    [
      { caFile: write("stranger.crt", stranger.certPem) },
      /does not chain to a certificate of --injector-ca-file .*stranger\.crt/,
    ],
    [
      { keyFile: write("other.key", elsewhere.keyPem) },
      /--injector-key-file .*other\.key is not the key of the certificate/,
    ],
    [
      { keyFile: write("garbage.key", "nope\n") },
      /--injector-key-file .*garbage\.key is not a PEM private key/,
    ],
    [{ caFile: write("empty.crt", "") }, /--injector-ca-file .*empty\.crt holds no PEM certificate/],
    [{ certificateFile: write("ca-as-cert.crt", ca.certPem) }, /the certificate is a CA/],
  ];
  for (const [o, pattern] of cases) await assert.rejects(given(o), pattern);
  await assert.rejects(
    injectorTls({ caFile, serviceName: NAME }),
    /--injector-certificate-file and --injector-key-file missing/,
  );
});

test("the webhook configuration: pods on CREATE, v1 reviews, no side effects, a timeout, Fail, and the namespaces it never covers", () => {
  const F = join(repoRoot, "test/fixtures/install");
  const read = (f: string) => readFileSync(join(F, f), "utf8");
  const objects = installObjects(
    resolveValues(installFlags()),
    { trustAnchorsPem: read("ca.crt"), issuer: { certPem: read("issuer.crt"), keyPem: read("issuer.key") } },
    { caPem: read("injector-ca.crt"), certPem: read("injector.crt"), keyPem: read("injector.key") },
  );
  const config = objects.find(
    (o) => o.kind === "MutatingWebhookConfiguration",
  ) as unknown as V1MutatingWebhookConfiguration;
  assert.equal(objects.at(-1), config as unknown, "applied last, once the injector's Deployment exists");
  const [hook, ...more] = config.webhooks ?? [];
  assert.ok(hook);
  assert.equal(more.length, 0);
  assert.equal(hook.name, "inject.trellis.dev");
  assert.deepEqual(hook.rules, [
    {
      operations: ["CREATE"],
      apiGroups: [""],
      apiVersions: ["v1"],
      resources: ["pods"],
      scope: "Namespaced",
    },
  ]);
  assert.equal(hook.sideEffects, "None");
  assert.deepEqual(hook.admissionReviewVersions, ["v1"]);
  assert.equal(hook.failurePolicy, "Fail");
  assert.ok((hook.timeoutSeconds ?? 0) > 0 && (hook.timeoutSeconds ?? 0) <= 15);
  assert.deepEqual(hook.namespaceSelector?.matchExpressions, [
    { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "trellis"] },
    { key: "trellis.dev/admission-webhooks", operator: "NotIn", values: ["disabled"] },
  ]);
  // It calls the injector's Service on a port the Service has, and trusts the Secret's CA.
  const service = objects.find(
    (o) => o.kind === "Service" && o.metadata.name === "trellis-injector",
  ) as unknown as V1Service;
  const ref = hook.clientConfig.service;
  assert.equal(ref?.name, service.metadata?.name);
  assert.equal(ref?.namespace, service.metadata?.namespace);
  assert.ok(service.spec?.ports?.some((p) => p.port === ref?.port));
  assert.equal(ref?.path, "/inject");
  const secret = objects.find((o) => o.metadata.name === "trellis-injector-tls") as unknown as V1Secret;
  assert.equal(secret.type, "kubernetes.io/tls");
  const caBundle = Buffer.from(hook.clientConfig.caBundle ?? "", "base64").toString();
  assert.equal(caBundle, Buffer.from(secret.data?.["ca.crt"] ?? "", "base64").toString());
  const served = new X509Certificate(Buffer.from(secret.data?.["tls.crt"] ?? "", "base64"));
  assert.ok(served.verify(new X509Certificate(caBundle).publicKey));
  assert.equal(served.subjectAltName, `DNS:${ref?.name}.${ref?.namespace}.svc`);
});
