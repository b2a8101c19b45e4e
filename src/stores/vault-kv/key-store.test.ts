// The Vault KV v2 adapter against the project's Vault emulator, built by its
// factory from environment settings as the broker builds it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type NodeVault from 'node-vault';
import { startVaultEmulator, type VaultEmulator } from '../../../test/emulators/vault/server';
import { ManualClock, generatedKeyMaterial } from '../../../test/support/fixtures';
import { memoryLogger } from '../../log';
import { describeKeyStoreContract, freshValidator } from '../key-store.contract';
import type { StoreContext } from '../registry';
import { createVaultKvKeyStore } from './factory';
import { vaultValueLimit } from './key-store';

const clock = new ManualClock();
let vault: VaultEmulator;
let raw: NodeVault.client;
const ops: string[] = [];

const ctx = (env: Record<string, string> = {}): StoreContext => ({
  env: { KEYHOLD_VAULT_ADDR: vault.address, KEYHOLD_VAULT_TOKEN: vault.token, ...env },
  home: '/nonexistent',
  clock,
  logger: memoryLogger(),
});

/** An unsigned projected service-account token, as the emulator's default verifier reads it. */
function saJwt(namespace: string, name: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ iss: 'https://kubernetes.default.svc', 'kubernetes.io': { namespace, serviceaccount: { name, uid: 'u-1' } } })}.sig`;
}

const policy = [
  { path: 'secret/data/keyhold/validators/*', capabilities: ['create', 'read', 'update'] as const },
  { path: 'secret/metadata/keyhold/validators/*', capabilities: ['create', 'read', 'update', 'list'] as const },
];

beforeAll(async () => {
  vault = await startVaultEmulator({ now: () => clock.now() });
  // Every request consults the faults once: count and name them.
  const take = vault.faults.take.bind(vault.faults);
  vault.faults.take = (op) => {
    ops.push(op);
    return take(op);
  };
  raw = (await import('node-vault')).default({ apiVersion: 'v1', endpoint: vault.address, token: vault.token });
});
afterAll(() => vault?.close());

describeKeyStoreContract('vault (emulator)', async () => {
  const store = await createVaultKvKeyStore(ctx(), { renewCheckMs: 0 });
  return {
    store,
    limit: vaultValueLimit,
    calls: () => ops.length,
    createForeign: async (validator, value) => {
      await raw.write(`secret/data/keyhold/validators/${validator}`, { data: { material: Buffer.from(value).toString() } });
    },
    close: () => store.close(),
  };
});

describe('vault specifics', () => {
  beforeEach(() => {
    vault.setPolicy('keyhold', policy.map((p) => ({ path: p.path, capabilities: [...p.capabilities] })));
    vault.approle.addRole('keyhold', { roleId: 'role-keyhold', secretId: 'secret-keyhold', policies: ['keyhold'], ttlSeconds: 60, maxTtlSeconds: 120 });
    vault.kubernetes.addRole('keyhold', { boundServiceAccountNames: ['keyhold'], boundNamespaces: ['keyhold'], policies: ['keyhold'], ttlSeconds: 60 });
  });

  const count = (op: string, from: number) => ops.slice(from).filter((o) => o === op).length;

  it('marks what it creates with custom_metadata keyhold-owner=keyhold', async () => {
    const store = await createVaultKvKeyStore(ctx(), { renewCheckMs: 0 });
    const v = freshValidator('meta');
    await store.put(v, generatedKeyMaterial().material);
    const meta = await raw.read(`secret/metadata/keyhold/validators/${v}`);
    expect(meta.data.custom_metadata).toEqual({ 'keyhold-owner': 'keyhold' });
    await store.close();
  });

  it('approle: renews the token with renew-self before it expires, by the store clock, and logs in again at the max TTL', async () => {
    const store = await createVaultKvKeyStore(
      ctx({ KEYHOLD_VAULT_AUTH: 'approle', KEYHOLD_VAULT_ROLE_ID: 'role-keyhold', KEYHOLD_VAULT_SECRET_ID_FILE: '/run/secret-id' }),
      { renewCheckMs: 0, readText: async (p) => (p === '/run/secret-id' ? 'secret-keyhold' : Promise.reject(new Error('no file'))) },
    );
    const v = freshValidator('renew');
    const mark = ops.length;
    await store.put(v, generatedKeyMaterial().material);
    expect(count('PUT renew-self', mark)).toBe(0);

    clock.advance(45_000); // past two thirds of the 60 s lease
    expect(await store.get(v)).not.toBeNull();
    expect(count('PUT renew-self', mark)).toBe(1);
    expect(store.inner.session.expiry).toBe(clock.now() + 60_000);

    clock.advance(45_000); // t=90s: renewal is capped at the 120 s max TTL (30 s left)
    expect(await store.get(v)).not.toBeNull();
    expect(count('PUT renew-self', mark)).toBe(2);
    clock.advance(25_000); // t=115s: a renewal would give 5 s, so it logs in again
    expect(await store.get(v)).not.toBeNull();
    expect(count('PUT renew-self', mark)).toBe(3);
    expect(count('PUT login', mark)).toBe(1);
    expect(store.inner.session.expiry).toBe(clock.now() + 60_000);

    clock.advance(10 * 60_000); // idle far past expiry: the next call logs in afresh
    expect(await store.get(v)).not.toBeNull();
    expect(count('PUT login', mark)).toBe(2);
    await store.close();
  });

  it('kubernetes: logs in with the projected service-account token from its file', async () => {
    const jwt = saJwt('keyhold', 'keyhold');
    const store = await createVaultKvKeyStore(ctx({ KEYHOLD_VAULT_AUTH: 'kubernetes', KEYHOLD_VAULT_ROLE: 'keyhold' }), {
      renewCheckMs: 0,
      readText: async (p) => (p === '/var/run/secrets/kubernetes.io/serviceaccount/token' ? jwt : Promise.reject(new Error('no file'))),
    });
    const v = freshValidator('k8s');
    const { version } = await store.put(v, generatedKeyMaterial().material);
    expect((await store.get(v))?.version).toBe(version);
    expect((await store.health()).state).toBe('ready');
    await store.close();
  });

  it('a renewable static token is renewed before it expires', async () => {
    const token = vault.createToken({ policies: ['keyhold'], ttlSeconds: 30 });
    const store = await createVaultKvKeyStore(ctx({ KEYHOLD_VAULT_TOKEN: token }), { renewCheckMs: 0 });
    const v = freshValidator('expire');
    await store.put(v, generatedKeyMaterial().material);
    clock.advance(25_000); // renewable: renewed in time
    expect(await store.get(v)).not.toBeNull();
    await store.close();
  });

  it('a token file is read again once its token can no longer be renewed (Vault Agent keeps it fresh)', async () => {
    let token = vault.createToken({ policies: ['keyhold'], ttlSeconds: 30, maxTtlSeconds: 30 });
    const store = await createVaultKvKeyStore(ctx({ KEYHOLD_VAULT_TOKEN: '', KEYHOLD_VAULT_TOKEN_FILE: '/run/vault-token' }), {
      renewCheckMs: 0,
      readText: async () => token,
    });
    const v = freshValidator('file');
    await store.put(v, generatedKeyMaterial().material);
    clock.advance(31_000); // past its max TTL: dead
    token = vault.createToken({ policies: ['keyhold'], ttlSeconds: 600 });
    expect(await store.get(v)).not.toBeNull();
    expect(store.inner.session.expiry).toBe(clock.now() + 600_000);
    await store.close();
  });

  it('health: ready, then error when sealed', async () => {
    const store = await createVaultKvKeyStore(ctx(), { renewCheckMs: 0 });
    expect(await store.health()).toEqual({ state: 'ready' });
    vault.seal();
    try {
      expect(await store.health()).toEqual({ state: 'error', detail: 'sealed' });
      await expect(store.get(freshValidator())).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      vault.unseal();
    }
    await store.close();
  });

  it('misconfiguration is one ConfigError naming the setting', async () => {
    const bad = async (env: Record<string, string>, text: string, overrides = {}) =>
      expect(createVaultKvKeyStore(ctx(env), { renewCheckMs: 0, ...overrides })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining(text) });
    await bad({ KEYHOLD_VAULT_MOUNT: 'nomount' }, 'KEYHOLD_VAULT_MOUNT');
    await bad({ KEYHOLD_VAULT_TOKEN: 'hvs.wrong' }, 'KEYHOLD_VAULT_TOKEN');
    await bad({ KEYHOLD_VAULT_AUTH: 'approle', KEYHOLD_VAULT_ROLE_ID: 'role-keyhold', KEYHOLD_VAULT_SECRET_ID_FILE: '/x' }, 'KEYHOLD_VAULT_SECRET_ID_FILE', { readText: async () => 'wrong' });
    await bad({ KEYHOLD_VAULT_AUTH: 'kubernetes', KEYHOLD_VAULT_ROLE: 'keyhold', KEYHOLD_VAULT_JWT_FILE: '/nonexistent/token' }, 'KEYHOLD_VAULT_JWT_FILE');
    await bad({ KEYHOLD_VAULT_AUTH: 'kubernetes' }, 'KEYHOLD_VAULT_ROLE');
    await bad({ KEYHOLD_VAULT_AUTH: 'ldap' }, 'KEYHOLD_VAULT_AUTH');
    await bad({ KEYHOLD_VAULT_ADDR: 'vault:8200' }, 'KEYHOLD_VAULT_ADDR');
    const token = vault.createToken({ policies: ['keyhold'], ttlSeconds: 600 });
    await bad({ KEYHOLD_VAULT_TOKEN: token, KEYHOLD_VAULT_PREFIX: 'elsewhere/' }, 'KEYHOLD_VAULT_PREFIX');
    vault.seal();
    try {
      await bad({}, 'sealed');
    } finally {
      vault.unseal();
    }
  });
});
