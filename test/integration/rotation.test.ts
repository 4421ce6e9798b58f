// Certificate rotation under load, as the README's runbook ("Rotating certificates") has an operator
// do it: a new issuer written over the identity service's files while traffic flows, and a new trust
// anchor brought in through a bundle that trusts old and new, then the old one dropped. Proxies renew
// often (TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS) so each step is over after a few renewals; the test
// waits for the renewals themselves (the certificate a proxy presents, its refresh count), never a time.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { rename, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import tls from "node:tls";
import { createIssuer, createTrustAnchor } from "../../control/identity/certs.js";
import { get, meshedDestination, startMesh, type TestProxy } from "../support/mesh.js";
import { sum } from "../support/metrics.js";
import { steadyLoad } from "../support/steady-load.js";

const RENEW_OFTEN = {
  TRELLIS_PROXY_IDENTITY_MIN_REFRESH_MS: "100",
  TRELLIS_PROXY_IDENTITY_MAX_REFRESH_MS: "300",
};

async function echoApp(t: { after(fn: () => unknown): void }): Promise<number> {
  const app = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end(`ok ${req.url}\n`));
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  t.after(() => app.close());
  return (app.address() as AddressInfo).port;
}

/** Writes a file as a new file renamed into place: the identity service never reads half of one. */
async function put(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The fingerprint of the issuer of the certificate a proxy's inbound listener presents. */
async function presentedIssuer(proxy: TestProxy): Promise<string> {
  const [host, port] = [
    proxy.inbound.slice(0, proxy.inbound.lastIndexOf(":")),
    Number(proxy.inbound.split(":").pop()),
  ];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false });
    socket.on("error", reject);
    socket.on("secureConnect", () => {
      const issuer = socket.getPeerCertificate(true).issuerCertificate;
      socket.destroy();
      resolve(issuer?.fingerprint256 ?? "");
    });
  });
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** Resolves once the proxy presents a certificate issued by `issuerPem` (bounded by attempts). */
async function presents(proxy: TestProxy, issuerPem: string): Promise<void> {
  const want = fingerprint(issuerPem);
  let seen = "";
  for (let i = 0; i < 300; i++) {
    seen = await presentedIssuer(proxy).catch((err: Error) => err.message);
    if (seen === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${proxy.identity} still presents a certificate from issuer ${seen}, not ${want}`);
}

/** Resolves once the proxy has obtained `more` certificates beyond those it had (bounded by attempts). */
async function renewsAgain(proxy: TestProxy, more: number): Promise<void> {
  const count = async () => sum(await proxy.metrics(), "identity_cert_refresh_count");
  const target = (await count()) + more;
  for (let i = 0; i < 300; i++) {
    if ((await count()) >= target) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${proxy.identity} did not renew its certificate ${more} more times`);
}

/**
 * Waits until both proxies hold certificates from `issuerPem`: the server's is checked on the wire;
 * the client's renewals that started after the server's prove the identity service issued from the
 * new issuer by then (one renewal may have been under way before it changed, hence two).
 */
async function bothRenewedFrom(server: TestProxy, client: TestProxy, issuerPem: string): Promise<void> {
  await presents(server, issuerPem);
  await renewsAgain(client, 2);
}

test("a new issuer written under load is used by every proxy without a failed request", async (t) => {
  const mesh = await startMesh(t);
  const files = mesh.pki.files;
  assert.ok(files);
  const appPort = await echoApp(t);
  const server = await mesh.proxy("server", { inboundPorts: [appPort], env: RENEW_OFTEN });
  const authority = `rotate.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
    env: RENEW_OFTEN,
  });
  assert.equal((await get(client.outbound, authority, "/before")).status, 200);
  await presents(server, mesh.pki.issuer.certPem);

  const traffic = steadyLoad(client, authority, { max: 5000, pauseMs: 0 });
  const issuer = await createIssuer(mesh.pki.anchor, { trustDomain: mesh.pki.trustDomain });
  await put(files.issuerKey, issuer.keyPem);
  await put(files.issuerCert, issuer.certPem);
  await bothRenewedFrom(server, client, issuer.certPem);
  const { sent, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent >= 20, `only ${sent} requests were sent during the rotation`);
});

test("a new trust anchor through a bundle, then the old one dropped, without a failed request", async (t) => {
  const mesh = await startMesh(t);
  const files = mesh.pki.files;
  assert.ok(files);
  const { trustDomain } = mesh.pki;
  const newAnchor = await createTrustAnchor({ trustDomain });
  const bundle = `${mesh.pki.anchor.certPem.trim()}\n${newAnchor.certPem.trim()}\n`;

  // Step 1: every party trusts both anchors (the identity service's file; the proxies, restarted with
  // the bundle, are started with it here). Certificates still come from the old issuer.
  await put(files.trustAnchors, bundle);
  const appPort = await echoApp(t);
  const trusting = { ...RENEW_OFTEN, TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: bundle };
  const server = await mesh.proxy("server", { inboundPorts: [appPort], env: trusting });
  const authority = `anchor.test.svc.cluster.local:${appPort}`;
  const client = await mesh.proxy("client", {
    destinations: [meshedDestination(authority, appPort, server)],
    env: trusting,
  });
  assert.equal((await get(client.outbound, authority, "/before")).status, 200);

  // Step 2, under load: an issuer signed by the new anchor; every proxy renews from it.
  const traffic = steadyLoad(client, authority, { max: 5000, pauseMs: 0 });
  const issuer = await createIssuer(newAnchor, { trustDomain });
  await put(files.issuerKey, issuer.keyPem);
  await put(files.issuerCert, issuer.certPem);
  await bothRenewedFrom(server, client, issuer.certPem);
  const { sent, failures } = await traffic.stop();
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent >= 20, `only ${sent} requests were sent during the rotation`);

  // Step 3: the old anchor is dropped; a proxy that trusts only the new one joins and is served.
  await put(files.trustAnchors, newAnchor.certPem);
  const fresh = await mesh.proxy("fresh", {
    destinations: [meshedDestination(authority, appPort, server)],
    env: { TRELLIS_PROXY_IDENTITY_TRUST_ANCHORS: newAnchor.certPem },
  });
  assert.equal((await get(fresh.outbound, authority, "/after")).status, 200);
  const stale = await get(client.outbound, authority, "/still-bundle");
  assert.equal(stale.status, 200, "the bundle-trusting client keeps working until it is restarted");
});
