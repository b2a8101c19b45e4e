// Headers every answer carries (no cache may keep a grant, a key or a
// refusal; no content sniffing), whatever made the answer: a route, a route
// that sets its own, the error mapper, the not-found handler, a stream. The
// app sets them before the route answers (src/http/app.ts); these pin that
// the answers are what they were when they were set after.

import { afterEach, describe, expect, it } from 'vitest';
import { serveApp, type Serving } from '../../src/http/node-server';
import { testBroker } from '../support/fixtures';
import { fetchGrant, importValidator, operatorHeaders, pod, podHeaders, slot0 } from './helpers';

const expectEveryAnswerHeaders = (res: Response) => {
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
};

let serving: Serving | undefined;
afterEach(async () => {
  await serving?.close();
  serving = undefined;
});

describe('headers on every answer', () => {
  it('are on grants, refusals, not-found, the JWKS, the timeline page and the audit export', async () => {
    const b = await testBroker();
    await importValidator(b);
    const answers = [
      await fetchGrant(b, await pod(slot0)),
      await b.app.request('/v1/grants', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
      await b.app.request('/v1/nothing-here'),
      await b.app.request('/.well-known/jwks.json'),
      await b.app.request('/ui'),
      await b.app.request('/v1/audit/export', { headers: await operatorHeaders(b, 'GET', '/v1/audit/export') }),
    ];
    expect(answers.map((r) => r.status)).toEqual([201, 401, 404, 200, 200, 200]);
    for (const r of answers) expectEveryAnswerHeaders(r);
    expect(answers[4]!.headers.get('x-frame-options')).toBe('DENY');
  });

  it('are on a grant over the Node server, which goes out with its length', async () => {
    const b = await testBroker();
    await importValidator(b);
    serving = await serveApp(b.app.fetch, { host: '127.0.0.1', port: 0, headerTimeoutMs: 10_000, bodyTimeoutMs: 30_000 });
    const p = await pod(slot0);
    const res = await fetch(`${serving.url}/v1/grants`, { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ validator: 'v1', ephemeralKey: p.publicJwk }) });
    expect(res.status).toBe(201);
    expectEveryAnswerHeaders(res);
    const body = await res.text();
    expect(res.headers.get('transfer-encoding')).toBeNull();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(body));
  });
});
