// The OpenAPI document, built from the app's own route table and the zod
// schemas that check each body, so it cannot describe an API the app does
// not serve. A route the app serves without an entry here still appears,
// with no body described.

import type { Hono } from 'hono';
import { z } from 'zod';
import { errorCodes } from '../core/errors';
import { auditQuery, fetchBody, importBody, promoteBody, releaseBody, renewBody } from './schemas';

interface Described {
  readonly summary: string;
  readonly auth: 'pod' | 'operator' | 'none';
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
}

/** Keyed by `METHOD path` as Hono's route table spells it. */
const described: Record<string, Described> = {
  'GET /healthz': { summary: 'Liveness', auth: 'none' },
  'GET /readyz': { summary: 'Readiness per store', auth: 'none' },
  'GET /metrics': { summary: 'Prometheus metrics', auth: 'none' },
  'GET /.well-known/jwks.json': { summary: 'Grant-signing public keys', auth: 'none' },
  'GET /openapi.json': { summary: 'This document', auth: 'none' },
  'POST /v1/grants': { summary: 'Fetch a grant and its key: one validator (201), or a list answered per validator (200 {results})', auth: 'pod', body: fetchBody },
  'POST /v1/grants/renew': { summary: 'Renew a grant, or a list of grants answered per grant (200 {results}); no key, no store write', auth: 'pod', body: renewBody },
  'POST /v1/grants/release': { summary: 'Release or acknowledge a fence, with the EIP-3076 interchange', auth: 'pod', body: releaseBody },
  'GET /v1/validators': { summary: 'List validators', auth: 'operator' },
  'GET /v1/validators/:id': { summary: 'One validator', auth: 'operator' },
  'PUT /v1/validators/:id/key': { summary: 'Import or rotate key material', auth: 'operator', body: importBody },
  'POST /v1/validators/:id/promote': { summary: 'Promote to another slot', auth: 'operator', body: promoteBody },
  'GET /v1/keys/check': { summary: 'Check every key replica', auth: 'operator' },
  'GET /v1/keys': { summary: 'Key replicas', auth: 'operator' },
  'GET /v1/audit': { summary: 'Query the ledger', auth: 'operator', query: auditQuery },
  'GET /v1/audit/verify': { summary: 'Verify the ledger', auth: 'operator' },
  'POST /v1/audit/checkpoints': { summary: 'Sign a checkpoint', auth: 'operator' },
};

const jsonSchema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

const errorResponse = {
  description: 'A refusal with a stable code',
  content: { 'application/json': { schema: { type: 'object', properties: { code: { enum: Object.keys(errorCodes) }, message: { type: 'string' } }, required: ['code', 'message'] } } },
};

export function openApiDocument(app: Hono): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of app.routes) {
    if (r.method === 'ALL') continue; // middleware
    const key = `${r.method} ${r.path}`;
    const d = described[key];
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = d?.query ? Object.entries((jsonSchema(d.query) as { properties?: Record<string, unknown> }).properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema })) : [];
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = {
      summary: d?.summary ?? key,
      ...(d?.auth && d.auth !== 'none' ? { security: [{ [d.auth === 'pod' ? 'podToken' : 'operatorToken']: [] }] } : {}),
      ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
      ...(d?.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(d.body) } } } } : {}),
      responses: { default: errorResponse },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'keyhold broker', version: '1' },
    components: {
      securitySchemes: {
        podToken: { type: 'http', scheme: 'bearer', description: 'Kubernetes projected service-account token, audience keyhold' },
        operatorToken: { type: 'http', scheme: 'bearer', description: 'Operator OIDC token or Ed25519-signed request JWT' },
      },
    },
    paths,
  };
}
