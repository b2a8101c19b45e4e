// KEYHOLD_KEY_STORES=vault: settings → client → start-up checks (health,
// authentication, the mount) → adapter behind the resilience wrapper.

import { ConfigError } from '../../config';
import type { KeyStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientKeyStore, type Guarded, type ResilienceHooks, type ResilienceOptions } from '../resilience';
import { VaultKvKeyStore, translateVaultError } from './key-store';
import { VaultAuthError } from './session';
import { authSettingNames, parseVaultKvSettings } from './settings';

export interface VaultKeyStoreOverrides {
  readonly resilience?: ResilienceOptions;
  readonly hooks?: ResilienceHooks;
  /** ms between background token checks; 0 turns the tick off (tests drive renewal through calls). */
  readonly renewCheckMs?: number;
  readonly readText?: (path: string) => Promise<string>;
}

interface HttpFailure {
  code?: unknown;
  response?: { statusCode?: number; body?: { errors?: unknown } };
}

export async function createVaultKvKeyStore(ctx: StoreContext, overrides: VaultKeyStoreOverrides = {}): Promise<Guarded<KeyStore> & { readonly inner: VaultKvKeyStore }> {
  const s = parseVaultKvSettings(ctx.env);
  const resilience = overrides.resilience ?? defaultResilience;
  const callTimeoutMs = resilience.timeoutMs + 500;
  const nodeVault = (await import('node-vault')).default;
  const client = nodeVault({ apiVersion: 'v1', endpoint: s.address, ...(s.namespace ? { namespace: s.namespace } : {}) });
  const store = new VaultKvKeyStore({
    client,
    mount: s.mount,
    prefix: s.prefix,
    auth: s.auth,
    clock: ctx.clock,
    callTimeoutMs,
    ...(overrides.renewCheckMs === undefined ? {} : { renewCheckMs: overrides.renewCheckMs }),
    ...(overrides.readText ? { readText: overrides.readText } : {}),
  });
  const refuse = async (why: string): Promise<never> => {
    await store.close();
    throw new ConfigError(`KEYHOLD_KEY_STORES=vault: ${why}`);
  };
  // A fault at start (refused, reset, timeout, 5xx, 429) is not a
  // misconfiguration: the broker starts, logs in on first use, and reads
  // fall over to other replicas meanwhile.
  const unverified = (e: unknown) => {
    ctx.logger.log('warn', 'key_store_start_check_failed', { store: store.name, code: translateVaultError(store.name, e, 'start').code });
    return resilientWith(store);
  };
  const resilientWith = (inner: VaultKvKeyStore) => Object.assign(resilientKeyStore(inner, resilience, overrides.hooks ?? ctx.storeHooks), { inner });

  let health: { initialized?: boolean; sealed?: boolean };
  try {
    health = (await client.read('sys/health?standbyok=true', { timeout: callTimeoutMs })) as typeof health;
  } catch (e) {
    const code = (e as HttpFailure).code;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return refuse(`cannot resolve the host of KEYHOLD_VAULT_ADDR (${s.address})`);
    return unverified(e);
  }
  if (health?.initialized === false) return refuse(`the Vault at KEYHOLD_VAULT_ADDR (${s.address}) is not initialised`);
  if (health?.sealed) return refuse(`the Vault at KEYHOLD_VAULT_ADDR (${s.address}) is sealed: unseal it, then start the broker`);

  try {
    await store.session.ensure();
  } catch (e) {
    if (e instanceof VaultAuthError) return refuse(e.message.replace(/^vault: /, ''));
    const status = (e as HttpFailure).response?.statusCode;
    if (status !== undefined && status < 500 && status !== 429) return refuse(`Vault refused the broker's ${s.auth.kind} authentication: check ${authSettingNames(s.auth)}`);
    return unverified(e);
  }

  try {
    await client.list(`${s.mount}/metadata/${s.prefix}`, { timeout: callTimeoutMs });
  } catch (e) {
    const r = (e as HttpFailure).response;
    const errors = r?.body?.errors;
    // 404 with no errors is an empty listing; with an error it is "no handler for route": no such mount.
    if (r?.statusCode === 404 && Array.isArray(errors) && errors.length > 0) return refuse(`no KV v2 secrets engine is mounted at KEYHOLD_VAULT_MOUNT (${s.mount})`);
    if (r?.statusCode === 403) {
      return refuse(`the broker's Vault policy may not list ${s.mount}/metadata/${s.prefix}: check KEYHOLD_VAULT_MOUNT, KEYHOLD_VAULT_PREFIX and the policy of ${authSettingNames(s.auth)}`);
    }
    if (r?.statusCode !== 404) return unverified(e);
  }
  return resilientWith(store);
}
