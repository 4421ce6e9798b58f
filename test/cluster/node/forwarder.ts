/**
 * The API server as pods reach it: a TCP forwarder on the node's address, port 443, to the API server
 * on 127.0.0.1 (which pods cannot reach). KUBERNETES_SERVICE_HOST/PORT and the `kubernetes` Service
 * point here; the API server's serving certificate names the node's address, so TLS checks pass.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export class ApiForwarder {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly address: string,
    private readonly apiserverPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((socket) => {
      const upstream = connect(this.apiserverPort, "127.0.0.1");
      socket.pipe(upstream).pipe(socket);
      this.sockets.add(socket).add(upstream);
      const close = () => {
        socket.destroy();
        upstream.destroy();
        this.sockets.delete(socket);
        this.sockets.delete(upstream);
      };
      socket.on("close", close);
      socket.on("error", close);
      upstream.on("error", close);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(443, this.address, () => resolve());
    });
    this.server = server;
  }

  /** Closes the listener and every forwarded connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
