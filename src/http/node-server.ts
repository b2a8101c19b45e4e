// The app as a plain Node HTTP(S) server, with the edges a client meets:
// a refusal that leaves the body unread closes the connection, slow clients
// are cut off, and a port in use is one line that says what to change.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { StartupError } from '../startup-error';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | null;
  /** Time a client has to send the request headers. */
  readonly headerTimeoutMs: number;
  /** Time a client has to send the whole request, body included. */
  readonly bodyTimeoutMs: number;
}

type Fetch = (req: Request) => Response | Promise<Response>;

const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * When the answer is written before the app read the body (a refusal: too
 * large, wrong media type, no credential), what is left of the body would be
 * taken for the next request on this connection, or the connection dropped
 * under a client that was told to keep it. Saying `Connection: close` makes
 * Node end the connection after the answer, and tells the client not to
 * reuse it.
 */
function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (hasBody(req) && !req.readableEnded) this.setHeader('Connection', 'close');
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
}

export function requestListener(fetch: Fetch): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = getRequestListener(fetch);
  return (req, res) => {
    closeIfBodyUnread(req, res);
    void handle(req, res);
  };
}

export interface Serving {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function serveApp(fetch: Fetch, opts: ServeOptions): Promise<Serving> {
  const options: ServerOptions = {
    headersTimeout: opts.headerTimeoutMs,
    requestTimeout: opts.bodyTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default): a check
    // this often keeps them close to what was configured.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(opts.headerTimeoutMs / 4))),
  };
  const listener = requestListener(fetch);
  const server: Server = opts.tls ? createHttpsServer({ ...options, cert: opts.tls.cert, key: opts.tls.key }, listener) : createHttpServer(options, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const at = `port ${opts.port} on ${opts.host}`;
      if (e.code === 'EADDRINUSE') reject(new StartupError(`${at} is already in use; stop what holds it or set KEYHOLD_PORT to another port`));
      else if (e.code === 'EACCES') reject(new StartupError(`not allowed to listen on ${at}; set KEYHOLD_PORT to a port above 1023`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new StartupError(`cannot listen on ${opts.host}: no such local address; set KEYHOLD_HOST`));
      else reject(new StartupError(`cannot listen on ${at} (${e.code ?? e.name}); check KEYHOLD_HOST and KEYHOLD_PORT`));
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const url = `${opts.tls ? 'https' : 'http'}://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
