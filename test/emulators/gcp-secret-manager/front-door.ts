// A TCP relay in front of the gRPC server: clients connect here, not to
// grpc-js. grpc-js gives a handler no access to its socket and cannot close a
// listening port while keeping its sessions' state, so the two network faults
// are done one layer down, where they are real:
// - reset: the client's TCP connection is aborted with an RST
//   (socket.resetAndDestroy), exactly what a crashed peer or middlebox does;
// - down: the listening socket is closed (connection refused) and open
//   connections are dropped; reopening binds the same port again.
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class FrontDoor {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private boundPort = 0;
  /** The gRPC server's own port, set once it is bound. */
  upstreamPort = 0;

  constructor(private readonly host: string) {}

  get port(): number {
    return this.boundPort;
  }

  /** Listen on `port` (0: any); later `open()` calls rebind the port first obtained. */
  async open(port = this.boundPort): Promise<void> {
    if (this.server) return;
    const server = net.createServer({ noDelay: true }, (client) => this.relay(client));
    // A port just released can still be briefly held, so a rebind retries.
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: this.host, port }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        if (port === 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.server = server;
    this.boundPort = (server.address() as net.AddressInfo).port;
  }

  /** Stop accepting at once and drop every open connection. */
  shut(): void {
    this.server?.close();
    this.server = undefined;
    for (const pair of this.pairs) this.drop(pair);
  }

  /**
   * Abort the client connection that reached grpc-js as `peer` ("ip:port" as
   * reported by `call.getPeer()`, i.e. the relay's upstream socket).
   * Returns false when the connection is not one of ours.
   */
  resetPeer(peer: string): boolean {
    const port = Number(peer.slice(peer.lastIndexOf(':') + 1));
    for (const pair of this.pairs) {
      if (pair.upstream.localPort === port) {
        this.pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
        return true;
      }
    }
    return false;
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.upstreamPort, noDelay: true });
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', () => this.drop(pair));
      s.on('close', () => this.drop(pair));
    }
  }

  private drop(pair: Pair): void {
    this.pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
