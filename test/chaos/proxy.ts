// Fault proxies the chaos controller puts in front of each state store and of
// the brokers. Two kinds, one set of faults:
// - `httpProxy`: one request at a time per upstream connection, for moto and
//   the Vault emulator (HTTP/1.1), and as the brokers' load balancer: each
//   request goes to a live broker, round robin.
// - `tcpProxy`: bytes, for the Firestore emulator (gRPC over HTTP/2).
// Faults: latency (each request or chunk held that long), drop (swallowed;
// the connection is cut when the drop ends), reset (every open connection
// cut now). `refuseLaterThanMs` stands for the store's side of the commit
// deadline (AWS refuses a request signed too long ago, Firestore a
// transaction too old): a request held past it is cut, never delivered.

import { createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ProxyFaults {
  latencyMs: number;
  dropping: boolean;
}

export interface ChaosProxy {
  readonly port: number;
  readonly url: string;
  readonly faults: ProxyFaults;
  /** Cut every open connection now. */
  reset(): void;
  /** Stop swallowing and cut what was swallowed. */
  endDrop(): void;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Ports to forward to; asked per request (HTTP) or connection (TCP), so a restarted upstream is found again. */
  readonly upstreams: () => readonly number[];
  readonly refuseLaterThanMs?: number;
  /** HTTP only: the store's own refusal of a request, checked the moment it would be delivered. */
  readonly refuse?: (req: IncomingMessage) => boolean;
  /** HTTP only: forward one request at a time over all clients (moto's transactions are not isolated). */
  readonly serialise?: boolean;
}

const listen = (server: Server) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function base(server: Server, sockets: Set<Socket>, swallowed: Set<Socket>, port: number): ChaosProxy {
  const faults: ProxyFaults = { latencyMs: 0, dropping: false };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    faults,
    endDrop: () => {
      faults.dropping = false;
      for (const s of swallowed) s.resetAndDestroy();
      swallowed.clear();
    },
    reset: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function httpProxy(opts: ProxyOptions): Promise<ChaosProxy> {
  const sockets = new Set<Socket>();
  const swallowed = new Set<Socket>();
  let next = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let handle: ChaosProxy | null = null;

  // Settles however the exchange ends (the client may be cut mid-answer), so a serialised queue never sticks.
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) =>
    new Promise<void>((settle) => {
      const ups = opts.upstreams();
      if (ups.length === 0) {
        req.socket.resetAndDestroy();
        return settle();
      }
      const port = ups[next++ % ups.length]!;
      const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: false }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      const timer = setTimeout(() => up.destroy(), 30_000);
      const done = () => {
        clearTimeout(timer);
        settle();
      };
      res.once('close', () => {
        up.destroy();
        done();
      });
      up.on('error', () => {
        res.socket?.resetAndDestroy();
        done();
      });
      up.end(body);
    });

  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const f = handle!.faults;
      const arrived = Date.now();
      if (f.dropping) {
        swallowed.add(req.socket);
        return;
      }
      const held = f.latencyMs;
      const deliver = async () => {
        if ((opts.refuseLaterThanMs !== undefined && Date.now() - arrived > opts.refuseLaterThanMs) || opts.refuse?.(req)) return void req.socket.resetAndDestroy();
        if (req.socket.destroyed) return;
        await forward(req, res, Buffer.concat(chunks));
      };
      // Latency is waited outside the queue, so one held request does not hold the others.
      void sleep(held).then(() => {
        if (!opts.serialise) return deliver();
        const run = queue.then(deliver);
        queue = run.catch(() => undefined);
        return run;
      });
    });
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  handle = base(server, sockets, swallowed, port);
  return handle;
}

export async function tcpProxy(opts: ProxyOptions): Promise<ChaosProxy> {
  const sockets = new Set<Socket>();
  const swallowed = new Set<Socket>();
  let handle: ChaosProxy | null = null;

  // Each chunk keeps its arrival time and order; it leaves after the latency in force when it arrived.
  const pipeWithFaults = (from: Socket, to: Socket, toStore: boolean) => {
    let chain: Promise<void> = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const f = handle!.faults;
      if (f.dropping) {
        swallowed.add(from);
        return;
      }
      const arrived = Date.now();
      const held = f.latencyMs;
      chain = chain.then(async () => {
        const wait = arrived + held - Date.now();
        if (wait > 0) await sleep(wait);
        if (toStore && opts.refuseLaterThanMs !== undefined && Date.now() - arrived > opts.refuseLaterThanMs) {
          from.resetAndDestroy();
          to.resetAndDestroy();
          return;
        }
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.on('end', () => void chain.then(() => to.end()));
  };

  const server = createTcpServer((client) => {
    const ups = opts.upstreams();
    if (ups.length === 0) return void client.resetAndDestroy();
    const up = connect({ host: '127.0.0.1', port: ups[0]! });
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    pipeWithFaults(client, up, true);
    pipeWithFaults(up, client, false);
  });
  const port = await listen(server);
  handle = base(server, sockets, swallowed, port);
  return handle;
}
