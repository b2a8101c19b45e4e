// The OpenAPI document comes from the app's route table and body schemas.

import { describe, expect, it } from 'vitest';
import { testBroker } from '../support/fixtures';

interface Doc {
  paths: Record<string, Record<string, { summary: string; requestBody?: { content: { 'application/json': { schema: unknown } } }; security?: unknown }>>;
}

describe('GET /openapi.json', () => {
  it('lists every route the app serves, with the body schemas it checks', async () => {
    const b = await testBroker();
    const doc = (await (await b.app.request('/openapi.json')).json()) as Doc;
    const served = b.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(listed.sort()).toEqual([...new Set(served)].sort());
    // Every route has a summary of its own, not its key.
    for (const ops of Object.values(doc.paths)) for (const [m, op] of Object.entries(ops)) expect(op.summary).not.toMatch(new RegExp(`^${m.toUpperCase()} `));
  });

  it('describes both forms of the grant and renewal bodies', async () => {
    const b = await testBroker();
    const doc = (await (await b.app.request('/openapi.json')).json()) as Doc;
    const fetchSchema = JSON.stringify(doc.paths['/v1/grants']!.post!.requestBody!.content['application/json'].schema);
    const renewSchema = JSON.stringify(doc.paths['/v1/grants/renew']!.post!.requestBody!.content['application/json'].schema);
    for (const field of ['"validator"', '"validators"', '"ephemeralKey"', '"maxItems":1000']) expect(fetchSchema).toContain(field);
    for (const field of ['"grant"', '"grants"', '"maxItems":1000']) expect(renewSchema).toContain(field);
    expect(doc.paths['/v1/grants']!.post!.security).toEqual([{ podToken: [] }]);
  });
});
