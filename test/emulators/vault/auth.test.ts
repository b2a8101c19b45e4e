// Logins, token lifetime, the ACL, health and seal, through node-vault and fetch.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type NodeVault from 'node-vault';
import { startVaultEmulator } from './server';
import type { VaultEmulator } from './server';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions walk parsed JSON whose shape they check
type Json = any;

let vault: VaultEmulator;
let nowMs = Date.parse('2030-01-01T00:00:00Z');
const makeClient = async (token?: string): Promise<NodeVault.client> =>
  (await import('node-vault')).default({ apiVersion: 'v1', endpoint: vault.address, ...(token === undefined ? {} : { token }) });

/** An unsigned projected service-account token, as the default verifier reads it. */
function saJwt(namespace: string, name: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ iss: 'https://kubernetes.default.svc', 'kubernetes.io': { namespace, serviceaccount: { name, uid: 'u-1' } } })}.sig`;
}

async function rejection(p: Promise<unknown>): Promise<{ statusCode: number; body: Json }> {
  const err = (await p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  )) as { response: { statusCode: number; body: Json } };
  return err.response;
}

beforeAll(async () => {
  vault = await startVaultEmulator({ now: () => nowMs, rootToken: 'dev-root' });
});
afterAll(() => vault.close());
beforeEach(() => {
  vault.reset();
  vault.setPolicy('signer', [
    { path: 'secret/data/validators/*', capabilities: ['create', 'read', 'update'] },
    { path: 'secret/metadata/validators/*', capabilities: ['list', 'read'] },
  ]);
  vault.kubernetes.addRole('keyhold', { boundServiceAccountNames: ['keyhold'], boundNamespaces: ['validators'], policies: ['signer'], ttlSeconds: 600 });
  vault.approle.addRole('ops', { roleId: 'role-1', secretId: 'secret-1', policies: ['signer'], ttlSeconds: 60, maxTtlSeconds: 120 });
});

describe('kubernetes login', () => {
  it('returns an auth block with role metadata; the token then works', async () => {
    const client = await makeClient();
    const res = await client.kubernetesLogin({ mount_point: 'kubernetes', role: 'keyhold', jwt: saJwt('validators', 'keyhold') });
    expect(res.auth).toMatchObject({
      client_token: expect.stringMatching(/^hvs\./),
      accessor: expect.any(String),
      policies: ['default', 'signer'],
      token_policies: ['default', 'signer'],
      lease_duration: 600,
      renewable: true,
      metadata: { role: 'keyhold', service_account_name: 'keyhold', service_account_namespace: 'validators' },
    });
    // node-vault 0.12 sets client.token itself from auth.client_token; set it anyway.
    client.token = res.auth.client_token;
    await client.write('secret/data/validators/v1', { data: { k: 1 } });
    expect((await client.read('secret/data/validators/v1')).data.data).toEqual({ k: 1 });
  });

  it('unknown role is 400 with the role quoted; unbound account or namespace is 403', async () => {
    const client = await makeClient();
    expect(await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'x', jwt: saJwt('validators', 'keyhold') }))).toEqual({ statusCode: 400, body: { errors: ['invalid role name "x"'] } });
    expect(await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'keyhold', jwt: saJwt('validators', 'other') }))).toEqual({ statusCode: 403, body: { errors: ['service account name not authorized'] } });
    expect(await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'keyhold', jwt: saJwt('default', 'keyhold') }))).toEqual({ statusCode: 403, body: { errors: ['namespace not authorized'] } });
    expect((await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'keyhold', jwt: 'not-a-jwt' }))).statusCode).toBe(403);
  });

  it('node-vault 0.12 needs mount_point: without it the login goes to /v1/auth//login and fails', async () => {
    const client = await makeClient();
    // Vault (Go's ServeMux) redirects the unclean path; axios follows as GET to auth/login, which has no handler.
    const res = await fetch(`${vault.address}/v1/auth//login`, { method: 'POST', redirect: 'manual', body: '{}' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/v1/auth/login');
    expect((await rejection(client.kubernetesLogin({ role: 'keyhold', jwt: saJwt('validators', 'keyhold') }))).statusCode).toBe(403);
  });

  it('uses a role\'s own verifier when given one', async () => {
    vault.kubernetes.addRole('strict', {
      boundServiceAccountNames: ['keyhold'],
      boundNamespaces: ['validators'],
      policies: [],
      ttlSeconds: 60,
      verifyJwt: async (jwt) => (jwt === 'good' ? { namespace: 'validators', serviceAccount: 'keyhold' } : null),
    });
    const client = await makeClient();
    expect((await client.kubernetesLogin({ mount_point: 'kubernetes', role: 'strict', jwt: 'good' })).auth.policies).toEqual(['default']);
    expect(await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'strict', jwt: saJwt('validators', 'keyhold') }))).toEqual({ statusCode: 403, body: { errors: ['permission denied'] } });
  });
});

describe('approle login', () => {
  it('logs in with role_id and secret_id; a wrong one is 400', async () => {
    const client = await makeClient();
    const res = await client.approleLogin({ role_id: 'role-1', secret_id: 'secret-1' });
    expect(res.auth).toMatchObject({ policies: ['default', 'signer'], lease_duration: 60, renewable: true, metadata: { role_name: 'ops' } });
    expect(await rejection(client.approleLogin({ role_id: 'role-1', secret_id: 'wrong' }))).toEqual({ statusCode: 400, body: { errors: ['invalid role or secret ID'] } });
    expect(await rejection(client.approleLogin({ role_id: 'nope', secret_id: 'secret-1' }))).toEqual({ statusCode: 400, body: { errors: ['invalid role or secret ID'] } });
  });
});

describe('tokens', () => {
  it('lookup-self reports ttl and expiry; the token expires on the injected clock; renew-self extends it up to max TTL', async () => {
    const client = await makeClient();
    const { auth } = await client.approleLogin({ role_id: 'role-1', secret_id: 'secret-1' });
    client.token = auth.client_token;
    const self = (await client.tokenLookupSelf()).data;
    expect(self).toMatchObject({ id: auth.client_token, ttl: 60, renewable: true, policies: ['default', 'signer'], expire_time: '2030-01-01T00:01:00.000Z' });

    nowMs += 50_000;
    const renewed = await client.tokenRenewSelf({ increment: 90 });
    // Capped: issued at t0 with max TTL 120s, now t0+50s.
    expect(renewed.auth).toMatchObject({ client_token: auth.client_token, lease_duration: 70, renewable: true });
    nowMs += 69_000;
    expect((await client.tokenLookupSelf()).data.ttl).toBe(1);
    nowMs += 1_000;
    expect(await rejection(client.tokenLookupSelf())).toEqual({ statusCode: 403, body: { errors: ['permission denied'] } });
    expect((await rejection(client.read('secret/data/validators/x'))).statusCode).toBe(403);
  });

  it('the root token never expires and is not renewable', async () => {
    const client = await makeClient(vault.token);
    expect((await client.tokenLookupSelf()).data).toMatchObject({ id: 'dev-root', ttl: 0, expire_time: null, policies: ['root'] });
    expect(await rejection(client.tokenRenewSelf({}))).toEqual({ statusCode: 400, body: { errors: ['lease not found or lease is not renewable'] } });
  });

  it('a missing or unknown token is 403 permission denied', async () => {
    for (const headers of [{}, { 'X-Vault-Token': 'hvs.unknown' }] as Record<string, string>[]) {
      const res = await fetch(`${vault.address}/v1/secret/data/x`, { headers });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ errors: ['permission denied'] });
    }
  });
});

describe('ACL', () => {
  it('allows only what the policy grants, telling create from update', async () => {
    vault.setPolicy('create-only', [{ path: 'secret/data/validators/*', capabilities: ['create', 'read'] }]);
    const client = await makeClient(vault.createToken({ policies: ['create-only'], ttlSeconds: 600 }));
    await client.write('secret/data/validators/a', { data: { v: 1 } });
    expect(await rejection(client.write('secret/data/validators/a', { data: { v: 2 } }))).toEqual({ statusCode: 403, body: { errors: ['permission denied'] } });
    expect((await rejection(client.read('secret/data/other'))).statusCode).toBe(403);
    expect((await rejection(client.delete('secret/data/validators/a'))).statusCode).toBe(403);
    // With a non-root token an unmounted path is denied before routing.
    expect((await rejection(client.read('nomount/x'))).statusCode).toBe(403);
  });

  it('supports + segments, deny, and LIST on metadata', async () => {
    vault.setPolicy('p', [
      { path: 'secret/data/+/key', capabilities: ['read', 'create', 'update'] },
      { path: 'secret/data/blocked/key', capabilities: ['deny'] },
      { path: 'secret/metadata/*', capabilities: ['list'] },
    ]);
    const client = await makeClient(vault.createToken({ policies: ['p'], ttlSeconds: 600 }));
    await client.write('secret/data/a/key', { data: { v: 1 } });
    expect((await rejection(client.write('secret/data/a/b/key', { data: { v: 1 } }))).statusCode).toBe(403);
    expect((await rejection(client.write('secret/data/blocked/key', { data: { v: 1 } }))).statusCode).toBe(403);
    expect((await client.list('secret/metadata/')).data.keys).toEqual(['a/']);
  });
});

describe('health and seal', () => {
  const health = async (query = '') => {
    const res = await fetch(`${vault.address}/v1/sys/health${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('200 active, 429 standby unless standbyok, 501 uninitialised, 503 sealed; codes overridable', async () => {
    expect(await health()).toMatchObject({ status: 200, body: { initialized: true, sealed: false, standby: false, version: expect.any(String) } });
    vault.setStandby(true);
    expect(await health()).toMatchObject({ status: 429, body: { standby: true } });
    expect((await health('?standbyok=true')).status).toBe(200);
    expect((await health('?standbycode=200')).status).toBe(200);
    vault.setStandby(false);
    vault.seal();
    expect(await health()).toMatchObject({ status: 503, body: { sealed: true } });
    expect((await health('?sealedcode=200')).status).toBe(200);
    vault.unseal();
    vault.setInitialized(false);
    expect(await health()).toMatchObject({ status: 501, body: { initialized: false } });
    expect((await health('?standbyok=maybe')).status).toBe(400);
  });

  it('node-vault resolves health with the body even for non-200', async () => {
    const client = await makeClient();
    vault.seal();
    expect(await client.health()).toMatchObject({ sealed: true });
    vault.unseal();
    vault.setStandby(true);
    expect(await client.health({ standbyok: true })).toMatchObject({ standby: true });
  });

  it('sealed: every other request is 503 "Vault is sealed", logins included', async () => {
    vault.seal();
    const client = await makeClient(vault.token);
    expect(await rejection(client.read('secret/data/x'))).toEqual({ statusCode: 503, body: { errors: ['Vault is sealed'] } });
    expect((await rejection(client.kubernetesLogin({ mount_point: 'kubernetes', role: 'keyhold', jwt: saJwt('validators', 'keyhold') }))).statusCode).toBe(503);
    vault.unseal();
    expect((await rejection(client.read('secret/data/x'))).statusCode).toBe(404);
  });
});
