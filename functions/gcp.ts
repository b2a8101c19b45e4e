// Google Cloud Functions (2nd gen, HTTP) entry point `keyhold`. The
// framework hands over an Express request whose body it has already parsed;
// @hono/node-server's listener builds the fetch Request from `req.rawBody`
// (the bytes as sent) when it is there, and writes the Response back.

import { http } from '@google-cloud/functions-framework';
import { getRequestListener } from '@hono/node-server';
import { lazyBroker } from './lazy-broker';

const broker = lazyBroker({ runtime: 'gcp-functions', env: process.env, signingKeySource: async (name, ctx) => (await import('../src/signing-keys/gcp')).gcpSigningKeySource(name, ctx) });

// overrideGlobalObjects: false leaves the process's Request/Response alone.
http('keyhold', getRequestListener(broker.app.fetch, { overrideGlobalObjects: false }));
