// Context for the broker's throughput: Hono's hello world on the same Node
// server, started the same way.

import { Hono } from 'hono';
import { serveOnLoopback } from './child-guard';

const app = new Hono();
app.get('/', (c) => c.text('Hello Hono!'));
serveOnLoopback(app.fetch);
