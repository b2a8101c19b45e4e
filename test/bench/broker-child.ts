// The broker as `npm start` runs it (config from the environment, composed
// by composeBroker, served by @hono/node-server), minus the banner: it prints
// one JSON line with its port so the bench can find it. Port 0 avoids a race
// for a free port.

import { serve } from '@hono/node-server';
import { composeBroker } from '../../src/compose';
import { parseConfig } from '../../src/config';
import { guardChildLife } from './child-guard';

process.umask(0o077);
const broker = await composeBroker(parseConfig({ ...process.env, KEYHOLD_HOST: '127.0.0.1', KEYHOLD_PORT: '0' }));
const server = serve({ fetch: broker.app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port, pid: process.pid })}\n`);
});

// A clean exit on SIGTERM, so --cpu-prof can write its profile.
const stop = () => {
  server.close();
  void broker.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
guardChildLife(stop);
