// The broker as `npm start` runs it (config from the environment, composed
// by composeBroker, served by @hono/node-server), minus the banner: it prints
// one JSON line with its port so the bench can find it. Port 0 avoids a race
// for a free port.

import { composeBroker } from '../../src/compose';
import { parseConfig } from '../../src/config';
import { serveOnLoopback } from './child-guard';

process.umask(0o077);
const broker = await composeBroker(parseConfig({ ...process.env, KEYHOLD_HOST: '127.0.0.1', KEYHOLD_PORT: '0' }));
// A clean exit on SIGTERM, so --cpu-prof can write its profile.
serveOnLoopback(broker.app.fetch, () => broker.close());
