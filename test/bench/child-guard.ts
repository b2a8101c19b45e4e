// Run by every child the bench starts: exit when the bench is gone (even if
// it was SIGKILLed and could not clean up) or after a fixed life.

import { serve } from '@hono/node-server';

export function guardChildLife(onExit: () => void = () => process.exit(0)): void {
  const parent = Number(process.env.BENCH_PARENT_PID ?? process.ppid);
  const maxLife = Number(process.env.BENCH_MAX_LIFE_MS ?? 600_000);
  setTimeout(onExit, maxLife).unref();
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      onExit();
    }
  }, 1000).unref();
}

/**
 * Serve `fetch` on loopback at a free port, print `{ port, pid }` as the
 * first stdout line (what firstJsonLine waits for), and exit cleanly on
 * SIGTERM, SIGINT or the guard, after `close` (so --cpu-prof can write).
 */
export function serveOnLoopback(fetch: (req: Request) => Response | Promise<Response>, close: () => Promise<void> = async () => {}): void {
  const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
    process.stdout.write(`${JSON.stringify({ port: info.port, pid: process.pid })}\n`);
  });
  const stop = () => {
    server.close();
    void close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  guardChildLife(stop);
}
