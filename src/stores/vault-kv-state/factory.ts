// KEYHOLD_STATE_STORE=vault: the address, mount and authentication are the
// key store's settings (parsed by its module, reused here with its token
// session: kubernetes, approle or token, renewed before expiry); the state
// lives under its own prefix, KEYHOLD_VAULT_STATE_PREFIX.

import { ConfigError } from '../../config';
import type { StateStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientStateStore } from '../resilience';
import { VaultSession } from '../vault-kv/session';
import { parseVaultKvSettings } from '../vault-kv/settings';
import { nodeVaultKv } from './kv-client';
import { VaultKvStateStore } from './state-store';

export const defaultStatePrefix = 'keyhold/state/';
const segment = '[A-Za-z0-9_-][A-Za-z0-9._-]*';
const prefixPattern = new RegExp(`^(${segment}/)+$`);

export async function createVaultStateStore(ctx: StoreContext): Promise<StateStore> {
  const s = parseVaultKvSettings(ctx.env);
  const prefix = ctx.env.KEYHOLD_VAULT_STATE_PREFIX ?? defaultStatePrefix;
  if (!prefixPattern.test(prefix) || prefix.includes('..')) throw new ConfigError(`KEYHOLD_VAULT_STATE_PREFIX must be a folder path ending in "/", like "${defaultStatePrefix}": "${prefix}"`);
  const keyPrefix = ctx.env.KEYHOLD_VAULT_PREFIX;
  if (keyPrefix !== undefined && (keyPrefix.startsWith(prefix) || prefix.startsWith(keyPrefix))) {
    throw new ConfigError('KEYHOLD_VAULT_STATE_PREFIX and KEYHOLD_VAULT_PREFIX must not overlap: key material and state are kept apart');
  }
  if (!ctx.timing) throw new TypeError('the vault state store needs the deployment timing to count waits from landing times');
  const timeoutMs = defaultResilience.timeoutMs + 500;
  const nodeVault = (await import('node-vault')).default;
  const client = nodeVault({ apiVersion: 'v1', endpoint: s.address, ...(s.namespace ? { namespace: s.namespace } : {}) });
  const session = new VaultSession('vault', client, s.auth, ctx.clock, timeoutMs);
  const kv = nodeVaultKv({ client, mount: s.mount, prefix, timeoutMs, session });
  return resilientStateStore(new VaultKvStateStore({ kv, clock: ctx.clock, timing: ctx.timing }), defaultResilience, ctx.storeHooks);
}
