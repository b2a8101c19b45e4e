// Key material in HashiCorp Vault KV v2 at <mount>/data/<prefix><validator>,
// as the one field `material` holding the JSON of serializeKeyMaterial().
//
// Ownership: custom_metadata keyhold-owner=keyhold on the key's metadata. A
// key without it is refused for writes and reads alike. KV v2 has no
// conditional metadata write, so a new key is created marker first (metadata
// POST, which makes a key with no versions), then its first version with
// cas=0. That order survives a failure between the two calls (the next put
// finds its own marker and carries on with cas=0); its cost is that a foreign
// writer creating the very same path in the same instant could end up
// marked. The other order would leave keyhold's own key unmarked after a
// fault, and every later import refused.
//
// Compare-and-swap: options.cas = the current_version read (0: create only).
// A mismatch is 400 "check-and-set parameter did not match the current
// version" (vault-plugin-secrets-kv path_data.go) → StateConflictError.

import type NodeVault from 'node-vault';
import { serializeKeyMaterial, type KeyMaterial } from '../../core/key-material';
import { isValidatorId } from '../../core/names';
import {
  KeyStoreOwnershipError,
  KeyStoreValueTooLargeError,
  StateConflictError,
  StoreError,
  StoreUnavailableError,
  type Clock,
  type Health,
  type KeyListing,
  type KeyStore,
  type StoredKey,
} from '../../ports';
import { VaultAuthError, VaultSession } from './session';
import type { VaultAuthSettings } from './settings';
import { listingsOf } from '../key-listing';
import { openStoredMaterial } from '../stored-material';

/**
 * keyhold's own bound on a value, in bytes of serialized material. Vault
 * accepts requests up to max_request_size (32 MiB by default), but a KV entry
 * is stored whole in one storage write: integrated storage (raft) refuses
 * entries over max_entry_size (1 MiB by default) and Consul over 512 KiB,
 * both after JSON escaping, KV v2's version wrapper and barrier encryption
 * are added. 256 KiB stays well inside both, and is four times the clouds'
 * 64 KiB; a validator keystore is about 1 KiB.
 */
export const vaultValueLimit = 256 * 1024;
export const vaultOwnerKey = 'keyhold-owner';
export const vaultOwnerValue = 'keyhold';

interface VaultError {
  code?: unknown;
  response?: { statusCode?: number; body?: { errors?: unknown } };
}

const statusOf = (e: unknown): number | undefined => (e as VaultError | null)?.response?.statusCode;

/** For classification only: Vault's error texts are never copied into messages. */
const firstError = (e: unknown): string => {
  const errors = (e as VaultError | null)?.response?.body?.errors;
  return Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0] : '';
};

export function translateVaultError(store: string, e: unknown, operation: string): StoreError {
  if (e instanceof StoreError) return e;
  const status = statusOf(e);
  if (status === undefined) {
    const code = (e as VaultError | null)?.code;
    return new StoreUnavailableError(store, code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? 'timeout' : 'network', { cause: e });
  }
  if (status === 429) return new StoreUnavailableError(store, 'throttled', { cause: e });
  if (status === 503) return new StoreUnavailableError(store, 'sealed', { cause: e });
  // 412: a performance standby has not yet seen the write it was asked about.
  if (status >= 500 || status === 412) return new StoreUnavailableError(store, 'server_error', { cause: e });
  if (status === 403) return new StoreError(store, `${operation}: permission denied`, { cause: e });
  return new StoreError(store, `${operation} failed (HTTP ${status})`, { cause: e });
}

export interface VaultKvKeyStoreOptions {
  readonly client: NodeVault.client;
  readonly mount: string;
  readonly prefix: string;
  readonly auth: VaultAuthSettings;
  readonly clock: Clock;
  /** Per call, ms: a little above the resilience wrapper's timeout. */
  readonly callTimeoutMs: number;
  /** How often a background tick checks the token, ms (0: never; calls still renew). */
  readonly renewCheckMs?: number;
  /** Reads token, JWT and secret-id files (tests). */
  readonly readText?: (path: string) => Promise<string>;
}

interface Metadata {
  current_version?: number;
  custom_metadata?: Record<string, string> | null;
}

export class VaultKvKeyStore implements KeyStore {
  readonly name = 'vault';
  readonly session: VaultSession;
  private readonly client: NodeVault.client;
  private readonly mount: string;
  private readonly prefix: string;
  private readonly timeout: { timeout: number };
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(opts: VaultKvKeyStoreOptions) {
    this.client = opts.client;
    this.mount = opts.mount;
    this.prefix = opts.prefix;
    this.timeout = { timeout: opts.callTimeoutMs };
    this.session = new VaultSession(this.name, opts.client, opts.auth, opts.clock, opts.callTimeoutMs, opts.readText);
    const every = opts.renewCheckMs ?? 30_000;
    if (every > 0) {
      // Keeps an idle broker's token alive; a failure here shows up on the next call or health check.
      this.ticker = setInterval(() => void this.session.ensure().catch(() => undefined), every);
      this.ticker.unref();
    }
  }

  private key(validator: string): string {
    if (!isValidatorId(validator)) throw new StoreError(this.name, 'invalid validator id');
    return `${this.prefix}${validator}`;
  }

  /** Run one Vault call with a fresh token; after a 403, a login method authenticates again and tries once more. */
  private async call<T>(_operation: string, fn: () => Promise<T>): Promise<T> {
    await this.authenticated();
    try {
      return await fn();
    } catch (e) {
      if (statusOf(e) !== 403 || !this.session.canLogin) throw e;
      this.session.invalidate();
      await this.authenticated();
      return await fn();
    }
  }

  private async authenticated(): Promise<void> {
    try {
      await this.session.ensure();
    } catch (e) {
      if (e instanceof VaultAuthError) throw e;
      const t = translateVaultError(this.name, e, 'login');
      throw t instanceof StoreUnavailableError ? t : new VaultAuthError(this.name, 'Vault refused the broker\'s authentication', { cause: e });
    }
  }

  private owned(custom: Record<string, string> | null | undefined): boolean {
    return custom?.[vaultOwnerKey] === vaultOwnerValue;
  }

  async get(validator: string): Promise<StoredKey | null> {
    const path = `${this.mount}/data/${this.key(validator)}`;
    let res: { data?: { data?: { material?: unknown } | null; metadata?: { version?: number; custom_metadata?: Record<string, string> | null } } };
    try {
      res = await this.call('read', () => this.client.read(path, this.timeout));
    } catch (e) {
      // 404: no such key, or its current version deleted or destroyed.
      if (statusOf(e) === 404) return null;
      throw translateVaultError(this.name, e, 'read');
    }
    const meta = res.data?.metadata;
    if (!this.owned(meta?.custom_metadata)) throw new KeyStoreOwnershipError(this.name, validator);
    const value = res.data?.data?.material;
    if (typeof value !== 'string' || typeof meta?.version !== 'number') throw new StoreError(this.name, `the key for ${validator} holds no keyhold material`);
    return { material: openStoredMaterial(this.name, validator, new TextEncoder().encode(value)), version: String(meta.version) };
  }

  async put(validator: string, material: KeyMaterial): Promise<{ version: string }> {
    const key = this.key(validator);
    const bytes = serializeKeyMaterial(material);
    const size = bytes.length;
    const value = new TextDecoder().decode(bytes);
    bytes.fill(0);
    if (size > vaultValueLimit) throw new KeyStoreValueTooLargeError(this.name, size, vaultValueLimit);

    const metaPath = `${this.mount}/metadata/${key}`;
    let meta: Metadata | null;
    try {
      meta = ((await this.call('read metadata', () => this.client.read(metaPath, this.timeout))) as { data?: Metadata }).data ?? {};
    } catch (e) {
      if (statusOf(e) !== 404) throw translateVaultError(this.name, e, 'read metadata');
      meta = null;
    }
    if (meta && !this.owned(meta.custom_metadata)) throw new KeyStoreOwnershipError(this.name, validator);
    if (!meta) {
      try {
        await this.call('write metadata', () => this.client.write(metaPath, { custom_metadata: { [vaultOwnerKey]: vaultOwnerValue } }, this.timeout));
      } catch (e) {
        throw translateVaultError(this.name, e, 'write metadata');
      }
    }
    const cas = meta?.current_version ?? 0;
    try {
      const res = (await this.call('write', () => this.client.write(`${this.mount}/data/${key}`, { options: { cas }, data: { material: value } }, this.timeout))) as {
        data?: { version?: number };
      };
      if (typeof res.data?.version !== 'number') throw new StoreError(this.name, 'the write answered without a version');
      return { version: String(res.data.version) };
    } catch (e) {
      if (statusOf(e) === 400 && /check-and-set/i.test(firstError(e))) throw new StateConflictError(this.name, validator);
      throw translateVaultError(this.name, e, 'write');
    }
  }

  async list(): Promise<KeyListing[]> {
    let keys: unknown;
    try {
      keys = ((await this.call('list', () => this.client.list(`${this.mount}/metadata/${this.prefix}`, this.timeout))) as { data?: { keys?: unknown } }).data?.keys;
    } catch (e) {
      if (statusOf(e) === 404) return [];
      throw translateVaultError(this.name, e, 'list');
    }
    const validators = (Array.isArray(keys) ? keys : []).filter((k): k is string => typeof k === 'string' && isValidatorId(k));
    return listingsOf(validators, (v) => this.get(v));
  }

  async health(): Promise<Health> {
    let h: { initialized?: boolean; sealed?: boolean; standby?: boolean };
    try {
      // node-vault resolves sys/health with its body whatever the status.
      h = (await this.client.read('sys/health?standbyok=true', this.timeout)) as typeof h;
    } catch (e) {
      return { state: 'error', detail: statusOf(e) === undefined ? 'unreachable' : 'health check failed' };
    }
    if (h?.initialized === false) return { state: 'error', detail: 'not initialized' };
    if (h?.sealed) return { state: 'error', detail: 'sealed' };
    try {
      await this.authenticated();
    } catch (e) {
      if (e instanceof StoreUnavailableError) return statusOf(e.cause) === 429 ? { state: 'unknown', detail: 'throttled' } : { state: 'error', detail: 'unreachable' };
      return { state: 'error', detail: 'authentication failed' };
    }
    return { state: 'ready' };
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
  }
}
