#!/usr/bin/env -S node --max-semi-space-size=1 --no-sparkplug --optimize-for-size
/**
 * trellis-proxy: the sidecar. Reads TRELLIS_PROXY_* (exit 2 listing every bad variable), serves
 * /live at once, obtains its certificate from the identity service, then listens inbound and
 * outbound and prints one JSON line `{"ready":true,"identity","inbound","outbound","admin"}`.
 * SIGTERM/SIGINT: /ready turns 503, listeners stop accepting, in-flight requests get
 * TRELLIS_PROXY_SHUTDOWN_GRACE_MS to finish, then the process exits 0.
 */
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../lib/exit-codes.js";
import { IdentityClient } from "../lib/identity/index.js";
import { logger } from "../lib/log.js";
import { Admin } from "./admin/index.js";
import { ConfigError, DEFAULTS, loadConfig } from "./config.js";
import { StaticDestinations } from "./discovery/destinations.js";
import { DiscoveryResolver } from "./discovery/index.js";
import { Inbound } from "./inbound/index.js";
import { ProxyMetrics } from "./metrics/index.js";
import { Outbound } from "./outbound/index.js";
import { MeshTls } from "./tls/index.js";
import { loadOriginalDst } from "./transport/original-dst.js";

const log = logger("proxy");

async function main(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `trellis-proxy: ${err.message}\nSee the README's trellis-proxy section for each variable.\n`,
      );
      return EXIT_USAGE;
    }
    throw err;
  }

  const metrics = new ProxyMetrics(
    { namespace: config.pod.namespace, pod: config.pod.name, deployment: config.pod.deployment },
    { maxAuthorities: config.metricsMaxAuthorities, retainIdleMs: config.metricsRetainIdleMs },
  );
  let state: "starting" | "ready" | "draining" = "starting";
  const admin = new Admin({
    listen: config.adminListen,
    metrics,
    ready: () => state === "ready",
    headersTimeoutMs: config.detectTimeoutMs,
    maxHeaderBytes: config.maxHeaderBytes,
    maxConnections: config.maxConnections.admin,
  });
  const adminAddr = await admin.listen();

  const identity = new IdentityClient({
    identity: config.identity.name,
    trustAnchorsPem: config.identity.trustAnchorsPem,
    tokenFile: config.identity.tokenFile,
    svcAddr: config.identity.svcAddr,
    svcName: config.identity.svcName,
    minRefreshMs: config.identity.minRefreshMs,
    maxRefreshMs: config.identity.maxRefreshMs,
    retryBaseMs: config.identity.retryBaseMs,
    retryMaxMs: config.identity.retryMaxMs,
  });
  let firstCertificate: () => void = () => {};
  const certified = new Promise<void>((resolve) => {
    firstCertificate = resolve;
  });
  identity.subscribe((c) => {
    metrics.certExpiry.set(Math.floor(c.notAfter.getTime() / 1000));
    metrics.certRefresh.inc();
    firstCertificate();
  });

  let stopping: Promise<number> | undefined;
  const shutdown = (signal: string): Promise<number> => {
    stopping ??= (async () => {
      log.info({ signal, graceMs: config.shutdownGraceMs }, "draining");
      state = "draining";
      await Promise.all([inbound?.drain(config.shutdownGraceMs), outbound?.drain(config.shutdownGraceMs)]);
      identity.stop();
      discovery?.close();
      tls?.close();
      admin.close();
      log.info("stopped");
      return EXIT_OK;
    })();
    return stopping;
  };
  let inbound: Inbound | undefined;
  let outbound: Outbound | undefined;
  let tls: MeshTls | undefined;
  let discovery: DiscoveryResolver | undefined;
  // Ports actually bound (port 0 in the configuration picks one).
  const boundPorts: number[] = [];
  const stopped = new Promise<number>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => void shutdown(signal).then(resolve));
    }
  });

  identity.start();
  const startup = (async () => {
    await certified;
    if (stopping) return;
    tls = new MeshTls(identity, config.identity.trustAnchorsPem);
    const table = new StaticDestinations(config.destinations, config.failureAccrual);
    const ds = config.destinationService;
    discovery = ds
      ? new DiscoveryResolver(
          {
            ...ds,
            trustAnchorsPem: config.identity.trustAnchorsPem,
            credentials: identity,
            firstAnswerTimeoutMs: DEFAULTS.DISCOVERY_FIRST_ANSWER_TIMEOUT_MS,
            retryBaseMs: config.identity.retryBaseMs,
            retryMaxMs: config.identity.retryMaxMs,
            balancer: config.failureAccrual,
            onCache: (size, evicted) => metrics.destinationCache(size, evicted),
          },
          table,
        )
      : undefined;
    const resolver = discovery ?? table;
    inbound = new Inbound({
      listen: config.inboundListen,
      tls,
      metrics,
      appHost: config.inboundAppHost,
      ports: config.inboundPorts,
      ownPorts: () => [
        config.inboundListen.port,
        config.outboundListen.port,
        config.adminListen.port,
        ...boundPorts,
      ],
      detectTimeoutMs: config.detectTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      maxHeaderBytes: config.maxHeaderBytes,
      http2: config.http2,
      tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
      maxConnections: config.maxConnections.inbound,
      muxMaxStreams: config.muxMaxStreams,
    });
    const ownPorts = () => [
      config.inboundListen.port,
      config.outboundListen.port,
      config.adminListen.port,
      ...boundPorts,
    ];
    outbound = new Outbound({
      listen: config.outboundListen,
      isSelf: (host, port) => ownPorts().includes(port) && isLocalHost(host, config),
      tls,
      resolver,
      metrics,
      connectTimeoutMs: config.connectTimeoutMs,
      detectTimeoutMs: config.detectTimeoutMs,
      maxHeaderBytes: config.maxHeaderBytes,
      http2: config.http2,
      originalDst: loadOriginalDst(),
      opaquePorts: config.opaquePorts,
      maxConnections: config.maxConnections.outbound,
    });
    const [inboundAddr, [outboundAddr, ...binds]] = await Promise.all([inbound.listen(), outbound.listen()]);
    for (const addr of [inboundAddr, outboundAddr, adminAddr, ...binds])
      if (addr) boundPorts.push(portOf(addr));
    state = "ready";
    process.stdout.write(
      `${JSON.stringify({ ready: true, identity: config.identity.name, inbound: inboundAddr, outbound: outboundAddr, admin: adminAddr, ...(binds.length > 0 ? { opaque: binds } : {}) })}\n`,
    );
    log.info({ inbound: inboundAddr, outbound: outboundAddr, admin: adminAddr }, "ready");
  })();
  startup.catch((err: Error) => {
    log.error({ err: err.message }, "could not start");
    process.exitCode = EXIT_FAILURE;
    void shutdown("startup failure").then(() => process.exit(EXIT_FAILURE));
  });
  return stopped;
}

const portOf = (addr: string) => Number(addr.slice(addr.lastIndexOf(":") + 1));

/** Whether a host names this machine's loopback or one of the proxy's listen hosts. */
function isLocalHost(host: string, config: ReturnType<typeof loadConfig>): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0.0.0.0" || h === "::" || h.startsWith("127.")) return true;
  return [config.inboundListen.host, config.outboundListen.host, config.adminListen.host].includes(h);
}

process.on("uncaughtException", (err) => {
  // One broken connection must not take the pod's traffic down; the error is logged for the bug report.
  log.error({ err: err.message, stack: err.stack }, "uncaught exception");
});

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log.error({ err: err.message, stack: err.stack }, "fatal");
    process.exit(EXIT_FAILURE);
  },
);
