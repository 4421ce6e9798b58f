/**
 * ClusterIPs for the test bed, in the manner of kube-proxy's old userspace mode: each Service's
 * ClusterIP is added to the node's bridge and a TCP listener on each of its ports forwards every
 * connection to a ready endpoint from the Service's EndpointSlices, round robin. Backends see the
 * node's address as the client (as with kube-proxy's masquerading). `default/kubernetes` has no
 * EndpointSlice (no endpoint reconciler) and goes to the API server on 127.0.0.1. TCP only.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { ip } from "./network.js";

interface Listener {
  server: Server;
  /** The Service port's name, which EndpointSlice ports carry too. */
  portName: string;
}

export class ServiceProxy {
  private readonly listeners = new Map<string, Listener>();
  private readonly addresses = new Set<string>();
  private readonly slices = new Map<string, V1EndpointSlice>();
  private readonly sockets = new Set<Socket>();
  private next = 0;
  private chain = Promise.resolve();

  constructor(
    private readonly bridge: string,
    private readonly apiserverPort: number,
    private readonly log: (msg: string) => void,
  ) {}

  private waiters: { ns: string; service: string; resolve: () => void }[] = [];

  onSlice(slice: V1EndpointSlice, deleted: boolean): void {
    const key = `${slice.metadata?.namespace}/${slice.metadata?.name}`;
    if (deleted) this.slices.delete(key);
    else this.slices.set(key, slice);
    this.waiters = this.waiters.filter((w) => {
      if (!this.hasEndpoints(w.ns, w.service)) return true;
      w.resolve();
      return false;
    });
  }

  private hasEndpoints(ns: string, service: string): boolean {
    return [...this.slices.values()].some(
      (s) =>
        s.metadata?.namespace === ns &&
        s.metadata?.labels?.["kubernetes.io/service-name"] === service &&
        (s.endpoints ?? []).some((e) => e.conditions?.ready !== false && e.addresses.length > 0),
    );
  }

  /** Resolves once this proxy knows a ready endpoint of the Service; rejects after `timeoutMs`. */
  async waitForEndpoints(ns: string, service: string, timeoutMs: number): Promise<void> {
    await this.endpointsKnown(ns, service, timeoutMs);
    // The Service's listener is set up in order with the other changes; wait for those in flight.
    await this.chain;
  }

  private endpointsKnown(ns: string, service: string, timeoutMs: number): Promise<void> {
    if (this.hasEndpoints(ns, service)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`service ${ns}/${service}: no ready endpoint within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ ns, service, resolve: done });
    });
  }

  /** Serialises changes, so addresses and listeners are added and removed in order. */
  onService(svc: V1Service, deleted: boolean): void {
    this.chain = this.chain
      .then(() => this.apply(svc, deleted))
      .catch((err) => this.log(`service proxy: ${err}`));
  }

  private async apply(svc: V1Service, deleted: boolean): Promise<void> {
    const ns = svc.metadata?.namespace ?? "";
    const name = svc.metadata?.name ?? "";
    const clusterIp = svc.spec?.clusterIP;
    const prefix = `${ns}/${name}/`;
    const wanted = new Map<string, { port: number; portName: string }>();
    if (!deleted && clusterIp && clusterIp !== "None" && !clusterIp.includes(":")) {
      for (const p of svc.spec?.ports ?? []) {
        if ((p.protocol ?? "TCP") !== "TCP") continue;
        wanted.set(`${prefix}${clusterIp}:${p.port}`, { port: p.port, portName: p.name ?? "" });
      }
    }
    for (const [key, l] of this.listeners) {
      if (key.startsWith(prefix) && !wanted.has(key)) {
        l.server.close();
        this.listeners.delete(key);
      }
    }
    if (wanted.size > 0 && clusterIp && !this.addresses.has(clusterIp)) {
      await ip("addr", "add", `${clusterIp}/32`, "dev", this.bridge);
      this.addresses.add(clusterIp);
    }
    for (const [key, { port, portName }] of wanted) {
      if (this.listeners.has(key)) continue;
      const server = createServer((socket) => this.forward(socket, ns, name, portName));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, clusterIp, () => resolve());
      });
      this.listeners.set(key, { server, portName });
    }
  }

  /** Ready endpoints of a Service port: [address, port] pairs. */
  private endpoints(ns: string, service: string, portName: string): [string, number][] {
    const out: [string, number][] = [];
    for (const slice of this.slices.values()) {
      if (slice.metadata?.namespace !== ns) continue;
      if (slice.metadata?.labels?.["kubernetes.io/service-name"] !== service) continue;
      const port = slice.ports?.find((p) => (p.name ?? "") === portName)?.port;
      if (port === undefined) continue;
      for (const e of slice.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        for (const a of e.addresses) out.push([a, port]);
      }
    }
    return out;
  }

  private forward(socket: Socket, ns: string, service: string, portName: string): void {
    const targets =
      ns === "default" && service === "kubernetes"
        ? ([["127.0.0.1", this.apiserverPort]] as [string, number][])
        : this.endpoints(ns, service, portName);
    const target = targets[this.next++ % Math.max(1, targets.length)];
    if (!target) {
      socket.resetAndDestroy();
      return;
    }
    const upstream = connect(target[1], target[0]);
    this.sockets.add(socket).add(upstream);
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
      this.sockets.delete(socket);
      this.sockets.delete(upstream);
    };
    socket.on("error", close).on("close", close);
    upstream.on("error", () => {
      socket.resetAndDestroy();
      close();
    });
    upstream.on("close", close);
  }

  /** Closes every listener and connection (the addresses go with the bridge). */
  async stop(): Promise<void> {
    await this.chain;
    for (const s of this.sockets) s.destroy();
    await Promise.all(
      [...this.listeners.values()].map(
        (l) => new Promise<void>((resolve) => l.server.close(() => resolve())),
      ),
    );
    this.listeners.clear();
  }
}
