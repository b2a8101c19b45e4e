// The OpenAPI 3.1 document, generated from the route table, the zod schemas
// the routes validate with, and the error catalogue. OpenAPI 3.1 schemas are
// JSON Schema 2020-12, which is what zod's own converter writes.

import { z } from 'zod';
import { errorCodes, type ErrorCode, type ErrorCodeSpec } from '../core/errors';
import { errorResponse } from './responses';
import { routes, type RouteAuth, type RouteId, type RouteSpec } from './routes';
import { validatorId } from './schemas';

export const apiVersion = '0.1.0';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // Checks zod cannot express (refinements) are dropped; the patterns beside them stay.
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const authGroup = (auth: RouteAuth): string | null => (auth === 'pod' ? 'pod' : auth === 'none' ? null : 'operator');

/** The error codes a route can answer, from the catalogue's `on`. */
export function routeErrorCodes(id: RouteId): ErrorCode[] {
  const r: RouteSpec = routes[id];
  const where = new Set<string>([id, ...(r.body ? ['body'] : [])]);
  const group = authGroup(r.auth);
  if (group) where.add(group);
  return (Object.entries(errorCodes) as [ErrorCode, ErrorCodeSpec][])
    .filter(([, spec]) => spec.on === undefined || spec.on.some((w) => where.has(w)))
    .map(([code]) => code);
}

const security: Record<RouteAuth, Record<string, string[]>[]> = {
  none: [],
  pod: [{ podToken: [] }],
  viewer: [{ operatorToken: ['viewer'] }],
  operator: [{ operatorToken: ['operator'] }],
};

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } } };

/** One refusal: its code, and the message that is fixed for it. */
const refusal = (code: ErrorCode): JsonSchema => ({
  type: 'object',
  properties: { code: { const: code }, message: { const: errorCodes[code].message } },
  required: ['code', 'message'],
  additionalProperties: false,
});

function errorAnswer(codes: readonly ErrorCode[]): JsonSchema {
  const [only] = codes;
  return codes.length === 1 && only ? refusal(only) : { oneOf: codes.map(refusal) };
}

function operation(id: RouteId): JsonSchema {
  const r: RouteSpec = routes[id];
  const parameters: JsonSchema[] = [];
  if (r.path.includes('{id}')) parameters.push({ name: 'id', in: 'path', required: true, description: 'Validator id.', schema: jsonSchema(validatorId, 'input') });
  if (r.query) {
    for (const [name, field] of Object.entries(r.query.shape as Record<string, z.ZodType>)) {
      parameters.push({ name, in: 'query', required: !field.safeParse(undefined).success, schema: jsonSchema(field, 'input') });
    }
  }

  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeErrorCodes(id)) {
    const status = errorCodes[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, a] of Object.entries(r.answers) as [string, RouteSpec['answers'][number]][]) {
    const content = a.schema
      ? { 'application/json': { schema: jsonSchema(a.schema, 'output'), ...(a.example === undefined ? {} : { example: a.example }) } }
      : { [a.contentType ?? 'text/plain']: { schema: { type: 'string' } } };
    responses[status] = { description: a.description, content };
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const schema = errorAnswer(codes);
    const description = codes.map((c) => `\`${c}\`: ${errorCodes[c].message}`).join('\n\n');
    const existing = responses[status] as { description: string; content: Record<string, { schema: JsonSchema }> } | undefined;
    const headers = status === 425 || status === 503 ? { headers: retryAfter } : {};
    responses[status] = existing?.content['application/json']
      ? { description: `${existing.description}\n\nOr refused:\n\n${description}`, ...headers, content: { 'application/json': { schema: { oneOf: [existing.content['application/json'].schema, schema] } } } }
      : { description, ...headers, content: { 'application/json': { schema } } };
  }

  return {
    operationId: id,
    summary: r.summary,
    tags: [r.tag],
    security: r.session ? [...security[r.auth], { uiSession: [] }] : security[r.auth],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(r.body
      ? { requestBody: { required: true, description: `At most ${r.body.maxBytes} bytes.`, content: { 'application/json': { schema: jsonSchema(r.body.schema, 'input'), example: r.body.example } } } }
      : {}),
    responses,
  };
}

const catalogue = (): string =>
  ['| code | status | meaning |', '|---|---|---|', ...(Object.entries(errorCodes) as [ErrorCode, ErrorCodeSpec][]).map(([c, s]) => `| \`${c}\` | ${s.status} | ${s.message} |`)].join('\n');

function build(): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const id of Object.keys(routes) as RouteId[]) {
    const r = routes[id];
    (paths[r.path] ??= {})[r.method] = operation(id);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'keyhold broker',
      version: apiVersion,
      description: [
        'Key custody for proof-of-stake validators: single-holder grants, epoch fencing, a tamper-evident ledger.',
        'Every refusal is a JSON body `{code, message}` with a stable `code`; the message is fixed per code. Any path or method not listed here answers 404 `not_found`.',
        catalogue(),
      ].join('\n\n'),
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'pods', description: 'Called by the operator hooks in a validator pod, with its projected service-account token.' },
      { name: 'operators', description: 'Called by the keyhold CLI with an operator request token.' },
      { name: 'public', description: 'No credential.' },
    ],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorResponse, 'output') },
      securitySchemes: {
        podToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A Kubernetes projected service-account token with audience `keyhold`, verified against the configured cluster\'s issuer keys. Namespace, pod name and pod UID come from its claims.',
        },
        uiSession: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A timeline page session from POST /v1/ui/sessions: reads the audit routes that list it, nothing else, for 15 minutes.',
        },
        operatorToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An operator request token: a short-lived EdDSA JWT signed with an operator key, bound to the method, the path and query (`htu`), the SHA-256 of the exact body (`body_sha256`) and the deployment\'s audience (GET /v1/operator-audience), used once across replicas (what the keyhold CLI sends); or an OIDC token from the configured operator issuer with a role claim, which on a route that changes state must be bound to a key (`cnf.jkt`) and come with a `DPoP` header (RFC 9449, plus `body_sha256`) from that key. Roles: `viewer` reads, `operator` also changes.',
        },
      },
    },
  };
}

let cached: JsonSchema | undefined;

/** The document; built once per process. */
export function openApiDocument(): JsonSchema {
  return (cached ??= build());
}
