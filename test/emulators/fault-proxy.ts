// A tiny HTTP proxy that puts the emulators' FaultController in front of a
// service that has no fault injection of its own (moto). The operation name is
// the awsJson `x-amz-target` after its dot ("secretsmanager.GetSecretValue" →
// "GetSecretValue", "DynamoDB_20120810.PutItem" → "PutItem"), so tests switch
// faults per operation exactly as with the other emulators. It also counts
// requests, so a test can prove that a call did not happen.

import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FaultController, type EmulatorHandle } from './faults';

export interface FaultProxy extends Omit<EmulatorHandle, 'reset'> {
  /** http://127.0.0.1:PORT: give this to the client as its endpoint. */
  readonly address: string;
  /** Requests received, per operation and in all ('*'). */
  calls(operation?: string): number;
}

export interface FaultProxyOptions {
  /** The awsJson error code answered for 'throttle' (Secrets Manager and DynamoDB both use ThrottlingException). */
  readonly throttleCode?: string;
}

export const operationOf = (req: IncomingMessage): string => {
  const target = req.headers['x-amz-target'];
  const t = Array.isArray(target) ? target[0] : target;
  if (!t) return `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]}`;
  const dot = t.lastIndexOf('.');
  return dot < 0 ? t : t.slice(dot + 1);
};

function awsError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ __type: code, message });
  // The SDK reads the code from x-amzn-errortype first (WIRE.md).
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'content-length': String(Buffer.byteLength(body)) }).end(body);
}

export async function startFaultProxy(upstream: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const faults = new FaultController();
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const op = operationOf(req);
    counts.set(op, (counts.get(op) ?? 0) + 1);
    counts.set('*', (counts.get('*') ?? 0) + 1);
    const fault = faults.take(op);
    switch (fault?.kind) {
      case undefined:
      case 'down':
        return forward(req, res);
      case 'latency': {
        const t = setTimeout(() => {
          timers.delete(t);
          forward(req, res);
        }, fault.ms);
        timers.add(t);
        return;
      }
      case 'hang':
        // Read the body so the client finishes sending, then never answer.
        req.resume();
        return;
      case 'error':
        req.resume();
        return awsError(res, 500, 'InternalServiceError', 'injected by the fault proxy');
      case 'throttle':
        req.resume();
        return awsError(res, 400, opts.throttleCode ?? 'ThrottlingException', 'Rate exceeded (injected by the fault proxy)');
      case 'reset':
        req.socket.resetAndDestroy();
        return;
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);

  // 'down' closes the port and drops open connections; clearing it rebinds the same port.
  let transition: Promise<void> = Promise.resolve();
  const unsubscribe = faults.onDownChange((down) => {
    transition = transition.then(async () => {
      if (down && server.listening) {
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
      } else if (!down && !server.listening) {
        for (let attempt = 0; ; attempt++) {
          try {
            await listen(port);
            return;
          } catch (e) {
            if (attempt >= 20 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    });
  });

  return {
    address: `http://127.0.0.1:${port}`,
    port,
    faults,
    calls: (operation = '*') => counts.get(operation) ?? 0,
    close: async () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      await transition;
      if (!server.listening) return;
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
