// AWS Lambda entry point (handler `aws-lambda.handler`), behind a function URL
// or an HTTP API (payload format 2.0). Hono's adapter turns the event into a
// Request and the Response back into the result, base64 for binary bodies.

import { handle } from 'hono/aws-lambda';
import { lazyBroker } from './lazy-broker';

const broker = lazyBroker({ runtime: 'aws-lambda', env: process.env, signingKeySource: async (name, ctx) => (await import('../src/signing-keys/aws')).awsSigningKeySource(name, ctx) });

export const handler = handle(broker.app);
