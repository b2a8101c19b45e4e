// A function configured in a way the broker refuses does not crash-loop and
// does not explain itself to callers: every request gets the same 503 body,
// and the log says once which setting to change. Both entry points, from
// source, with no store reachable (the refusals come before any).

import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lazyBroker, unavailableBody } from '../../functions/lazy-broker';
import { ConfigError } from '../../src/config';
import { memoryLogger } from '../../src/log';
import { testBroker } from '../support/fixtures';
import { captureStderr, lambdaEvent, type LambdaResult } from './support';

// Everything else a function needs, valid, so each test breaks exactly one thing.
const base: Record<string, string> = {
  KEYHOLD_STATE_STORE: 'dynamodb',
  KEYHOLD_DYNAMODB_TABLE: 'keyhold-state',
  KEYHOLD_KEY_STORES: 'aws-secrets-manager',
  KEYHOLD_SIGNING_KEY_SECRET: 'keyhold/broker/signing-key',
  KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.eu1.example.invalid', jwksUri: 'https://oidc.eu1.example.invalid/keys' }]),
  KEYHOLD_OPERATOR_ISSUER: 'https://login.example.invalid',
  KEYHOLD_OPERATOR_AUDIENCE: 'keyhold',
  KEYHOLD_OPERATOR_JWKS_URI: 'https://login.example.invalid/jwks',
  AWS_REGION: 'eu-west-1',
};

let logs: ReturnType<typeof captureStderr>;
beforeEach(() => {
  for (const k of Object.keys(process.env).filter((k) => k.startsWith('KEYHOLD_'))) vi.stubEnv(k, undefined);
  for (const [k, v] of Object.entries(base)) vi.stubEnv(k, v);
  logs = captureStderr();
});
afterEach(() => {
  logs.restore();
  vi.unstubAllEnvs();
});

async function lambdaColdStart(): Promise<(event: unknown) => Promise<LambdaResult>> {
  vi.resetModules();
  return (await import('../../functions/aws-lambda')).handler as unknown as (event: unknown) => Promise<LambdaResult>;
}

const refusals = () => logs.lines().filter((l) => l.event === 'broker_start_refused');

describe('the Lambda entry point', () => {
  it('answers 503 with the fixed body to a sqlite state store, and logs once which stores to use', async () => {
    vi.stubEnv('KEYHOLD_STATE_STORE', 'sqlite');
    // Whatever the environment claims, a Lambda is not a single node.
    vi.stubEnv('KEYHOLD_RUNTIME', 'node');
    const handler = await lambdaColdStart();
    for (const path of ['/readyz', '/v1/grants']) {
      const r = await handler(lambdaEvent({ method: path === '/readyz' ? 'GET' : 'POST', path, ...(path === '/readyz' ? {} : { body: '{}' }) }));
      expect(r.statusCode).toBe(503);
      expect(JSON.parse(r.body)).toEqual(unavailableBody);
      expect(r.headers['cache-control']).toBe('no-store');
    }
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toMatchObject({ level: 'error', code: 'config_invalid' });
    // Liveness is not readiness: the instance is up, and says so without the broker.
    expect((await handler(lambdaEvent({ method: 'GET', path: '/healthz' }))).statusCode).toBe(200);
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]!.reason).toMatch(/KEYHOLD_STATE_STORE=sqlite cannot back a broker that runs as aws-lambda.*Use dynamodb, firestore or vault/);
  });

  it('answers 503 when KEYHOLD_SIGNING_KEY_SECRET is missing, and the log names it', async () => {
    vi.stubEnv('KEYHOLD_SIGNING_KEY_SECRET', undefined);
    vi.stubEnv('KEYHOLD_SIGNING_KEY_FILE', '/etc/keyhold/signing-keys.json');
    const handler = await lambdaColdStart();
    const r = await handler(lambdaEvent({ method: 'GET', path: '/readyz' }));
    expect([r.statusCode, JSON.parse(r.body)]).toEqual([503, unavailableBody]);
    expect(refusals()[0]!.reason).toMatch(/KEYHOLD_SIGNING_KEY_SECRET/);
  });

  it('tries again on a request a second later, and logs a changed reason again', async () => {
    vi.stubEnv('KEYHOLD_STATE_STORE', 'sqlite');
    const handler = await lambdaColdStart();
    await handler(lambdaEvent({ method: 'GET', path: '/readyz' }));
    vi.stubEnv('KEYHOLD_STATE_STORE', 'no-such-store');
    await handler(lambdaEvent({ method: 'GET', path: '/readyz' }));
    expect(refusals()).toHaveLength(1); // within the second: no new attempt
    await new Promise((r) => setTimeout(r, 1000));
    const r = await handler(lambdaEvent({ method: 'GET', path: '/readyz' }));
    expect(r.statusCode).toBe(503);
    expect(refusals().map((l) => l.reason)).toEqual([expect.stringMatching(/sqlite/), expect.stringMatching(/KEYHOLD_STATE_STORE: unknown store "no-such-store"/)]);
  });

  it('shares one attempt between concurrent first requests, and keeps no failure', async () => {
    let attempts = 0;
    let t = 0;
    const broker = lazyBroker({
      runtime: 'aws-lambda',
      env: { ...base },
      signingKeySource: async () => [],
      compose: async () => {
        attempts += 1;
        await new Promise((r) => setTimeout(r, 20));
        if (attempts === 1) throw new ConfigError('KEYHOLD_SIGNING_KEY_SECRET: not yet');
        return testBroker();
      },
      logger: memoryLogger(),
      now: () => t,
    });
    const first = await Promise.all([1, 2, 3].map(() => broker.app.request('/readyz')));
    expect(first.map((r) => r.status)).toEqual([503, 503, 503]);
    t += 999;
    expect((await broker.app.request('/readyz')).status).toBe(503);
    expect(attempts).toBe(1);
    t += 1;
    const ok = await Promise.all([1, 2].map(() => broker.app.request('/readyz')));
    expect(ok.map((r) => r.status)).toEqual([200, 200]);
    expect((await broker.app.request('/nope')).status).toBe(404);
    expect(attempts).toBe(2);
  });
});

describe('the Cloud Functions entry point', () => {
  it('answers 503 with the fixed body through functions-framework, and logs the reason', async () => {
    vi.stubEnv('KEYHOLD_STATE_STORE', 'sqlite');
    vi.resetModules();
    await import('../../functions/gcp');
    const { getTestServer } = await import('@google-cloud/functions-framework/testing');
    const server = getTestServer('keyhold');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${url}/v1/grants`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect([r.status, await r.json()]).toEqual([503, unavailableBody]);
      }
      expect(refusals()).toHaveLength(1);
      expect(refusals()[0]!.reason).toMatch(/cannot back a broker that runs as gcp-functions.*Use dynamodb, firestore or vault/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
