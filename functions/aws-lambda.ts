// AWS Lambda entry point (handler `aws-lambda.handler`), behind a function URL
// or an HTTP API (payload format 2.0). Hono's adapter turns the event into a
// Request and the Response back into the result, base64 for binary bodies.

import { handle } from 'hono/aws-lambda';
import { awsSigningKeySource } from '../src/signing-keys/aws';
import { lazyBroker } from './lazy-broker';

const broker = lazyBroker({ runtime: 'aws-lambda', env: process.env, signingKeySource: awsSigningKeySource });

export const handler = handle(broker.app);
