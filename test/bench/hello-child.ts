// Context for the broker's throughput: Hono's hello world on the same Node
// server, started the same way.

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { guardChildLife } from './child-guard';

const app = new Hono();
app.get('/', (c) => c.text('Hello Hono!'));
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port, pid: process.pid })}\n`);
});
const stop = () => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
guardChildLife(stop);
