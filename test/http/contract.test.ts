// The published document: valid OpenAPI 3.1 by an independent validator,
// the same routes the app serves, every error code with its status, and
// examples that the routes themselves accept.

import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { errorCodes, type ErrorCode } from '../../src/core/errors';
import { openApiDocument, routeErrorCodes } from '../../src/http/openapi';
import { routes, type RouteId, type RouteSpec } from '../../src/http/routes';
import { BrokerMetrics } from '../../src/metrics';
import { buildBroker } from '../../src/compose';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeOpenApi } from '../../functions/build';
import { checkAnswer, contractAjv, ContractViolation } from './contract';
import { testBroker, testSigner, testTiming } from '../support/fixtures';

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; security: unknown[]; responses: Record<string, { content: Record<string, { schema: object; example?: unknown }> }> }>>;
}
const doc = openApiDocument() as unknown as Doc;
const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 to an independent validator', async () => {
    const v = new Validator();
    const res = await v.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(v.version).toBe('3.1');
    // The validator is not one that accepts anything.
    const { info: _, ...noInfo } = structuredClone(doc) as unknown as Record<string, unknown>;
    expect((await new Validator().validate(noInfo as Parameters<Validator['validate']>[0])).valid).toBe(false);
  });

  it('lists exactly the routes the app serves', async () => {
    const broker = buildBroker({
      state: new SqliteStateStore(':memory:'),
      keyStores: [new SqliteKeyStore(':memory:', randomBytes(32), () => Date.now())],
      signer: await testSigner(),
      clusters: [],
      operatorKeys: [],
      timing: testTiming,
      metrics: new BrokerMetrics(),
      exposeMetrics: true,
    });
    // A route with a body limit is registered as the limit and the handler: one route.
    const served = [...new Set(broker.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].sort();
    const documented = operations.map((o) => `${o.method.toUpperCase()} ${o.path.replace(/\{(\w+)\}/g, ':$1')}`).sort();
    expect(served).toEqual(documented);
    await broker.close();
  });

  it('is what GET /openapi.json serves and what npm run build writes', async () => {
    const b = await testBroker();
    const res = await b.app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(doc);
    const dist = mkdtempSync(join(tmpdir(), 'keyhold-dist-'));
    expect(JSON.parse(readFileSync(await writeOpenApi(dist), 'utf8'))).toEqual(doc);
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect((doc as unknown as { info: { version: string } }).info.version).toBe(pkg.version);
  });

  it('describes every error code with its status, and each route with a credential names its scheme', () => {
    const described = new Map<string, Set<string>>();
    for (const { op } of operations) {
      for (const [status, r] of Object.entries(op.responses)) {
        type Refusal = { properties?: { code?: { const?: string } }; oneOf?: Refusal[] };
        const codesOf = (s: Refusal | undefined): string[] => [...(s?.properties?.code?.const ? [s.properties.code.const] : []), ...(s?.oneOf ?? []).flatMap(codesOf)];
        const codes = codesOf(r.content['application/json']?.schema as Refusal | undefined);
        for (const c of codes) (described.get(c) ?? described.set(c, new Set()).get(c)!).add(status);
      }
    }
    for (const [code, spec] of Object.entries(errorCodes) as [ErrorCode, { status: number; on?: readonly string[] }][]) {
      if (spec.on?.length === 0) continue;
      expect([...(described.get(code) ?? [])], code).toEqual([String(spec.status)]);
    }
    for (const id of Object.keys(routes) as RouteId[]) {
      const r: RouteSpec = routes[id];
      const op = doc.paths[r.path]![r.method]!;
      expect(op.security.length > 0, id).toBe(r.auth !== 'none');
      if (r.auth !== 'none') expect(routeErrorCodes(id)).toContain('unauthenticated');
    }
  });

  it('scopes error codes only to routes and groups that exist', () => {
    const known = new Set<string>([...Object.keys(routes), 'pod', 'operator', 'body']);
    for (const [code, spec] of Object.entries(errorCodes) as [string, { on?: readonly string[] }][]) {
      for (const w of spec.on ?? []) expect(known.has(w), `${code}: on ${w}`).toBe(true);
    }
  });

  it('has request examples the routes accept and answer examples their schemas accept', () => {
    const ajv = contractAjv();
    for (const id of Object.keys(routes) as RouteId[]) {
      const r: RouteSpec = routes[id];
      if (r.body) expect(r.body.schema.safeParse(r.body.example).success, id).toBe(true);
    }
    let answers = 0;
    for (const { op } of operations) {
      for (const r of Object.values(op.responses)) {
        const media = r.content['application/json'];
        if (media?.example === undefined) continue;
        answers += 1;
        const validate = ajv.compile(media.schema);
        expect(validate(media.example), `${op.operationId}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
    }
    expect(answers).toBeGreaterThan(3);
  });
});

describe('the answer check the HTTP tests go through', () => {
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  it('accepts a documented answer', async () => {
    await checkAnswer('GET', '/healthz', json({ status: 'ok' }));
    await checkAnswer('GET', '/nowhere', json({ code: 'not_found', message: errorCodes.not_found.message }, 404));
  });

  it('refuses a field, a status, a code or a route the document does not describe', async () => {
    await expect(checkAnswer('GET', '/healthz', json({ status: 'ok', extra: 1 }))).rejects.toThrow(ContractViolation);
    await expect(checkAnswer('GET', '/healthz', json({ status: 'ok' }, 201))).rejects.toThrow(/status not documented/);
    // stale_epoch is a pod answer, never an operator one.
    await expect(checkAnswer('GET', '/v1/validators/v1', json({ code: 'stale_epoch', message: errorCodes.stale_epoch.message }, 409))).rejects.toThrow(ContractViolation);
    await expect(checkAnswer('POST', '/v1/grants', json({ code: 'invalid_request', message: 'something else' }, 400))).rejects.toThrow(ContractViolation);
    await checkAnswer('POST', '/v1/grants', json({ code: 'invalid_request', message: errorCodes.invalid_request.message }, 400));
    await expect(checkAnswer('GET', '/nowhere', json({ status: 'ok' }))).rejects.toThrow(/not in the OpenAPI document/);
    await expect(checkAnswer('GET', '/healthz', new Response('ok', { headers: { 'content-type': 'text/plain' } }))).rejects.toThrow(/content type/);
  });
});
