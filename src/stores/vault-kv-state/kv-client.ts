// KV v2 over node-vault for the state store: reads (optionally of one
// version), check-and-set writes and lists, with Vault's answers turned into
// the store's terms. 404 is "no such key" (a deleted version answers 404 with
// metadata: also absent); 400 "check-and-set parameter did not match the
// current version" is a lost CAS
// (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#create-update-secret);
// anything else is the store being unavailable, with the status as reason
// and never Vault's text.

import type NodeVault from 'node-vault';
import { StoreError, StoreUnavailableError } from '../../ports';
import type { KvClient } from './state-store';

interface HttpFailure {
  response?: { statusCode?: number; body?: { errors?: unknown } };
}

export interface Session {
  ensure(): Promise<void>;
  invalidate(): void;
}

export function nodeVaultKv(opts: { client: NodeVault.client; mount: string; prefix: string; timeoutMs: number; session?: Session; close?: () => Promise<void> }): KvClient {
  const store = 'vault';
  const base = `${opts.mount}/data/${opts.prefix}`;
  const meta = `${opts.mount}/metadata/${opts.prefix}`;
  const call = async <T>(fn: () => Promise<T>, onStatus: (status: number, errors: string[]) => T | undefined): Promise<T> => {
    await opts.session?.ensure();
    try {
      return await fn();
    } catch (e) {
      const status = (e as HttpFailure).response?.statusCode;
      if (status === undefined) throw new StoreUnavailableError(store, 'network', { cause: e });
      const raw = (e as HttpFailure).response?.body?.errors;
      const errors = Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string') : [];
      const handled = onStatus(status, errors);
      if (handled !== undefined) return handled;
      if (status === 403) opts.session?.invalidate();
      throw new StoreUnavailableError(store, `http_${status}`, { cause: e });
    }
  };
  const timeout = { timeout: opts.timeoutMs };
  // Every state read feeds a decision or a renewal, so none may be answered by
  // a performance standby that has not caught up: "X-Vault-Forward:
  // active-node" forwards the request to the active node
  // (https://developer.hashicorp.com/vault/docs/enterprise/consistency#unconditional-forwarding-performance-standbys-only).
  // A Vault without performance standbys ignores it.
  const authoritative = { ...timeout, headers: { 'X-Vault-Forward': 'active-node' } };
  return {
    async read(key, version) {
      const res = await call(
        () => opts.client.read(`${base}${key}${version === undefined ? '' : `?version=${version}`}`, authoritative) as Promise<{ data?: { data?: unknown; metadata?: { version?: unknown; created_time?: unknown } } }>,
        (status) => (status === 404 ? null : undefined),
      );
      if (res === null) return null;
      const data = res.data?.data;
      const v = res.data?.metadata?.version;
      // A destroyed or deleted version reads as data null: absent.
      if (data === null || data === undefined) return null;
      if (typeof data !== 'object' || Array.isArray(data) || typeof v !== 'number') throw new StoreError(store, 'a KV answer is malformed');
      // The server's clock at the write: when the version landed (RFC 3339, nanoseconds).
      const created = res.data?.metadata?.created_time;
      const createdTime = typeof created === 'string' ? Date.parse(created) : NaN;
      if (!Number.isFinite(createdTime)) throw new StoreError(store, 'a KV answer lacks its created_time');
      return { data: data as Record<string, unknown>, version: v, createdTime };
    },
    async write(key, data, cas) {
      const res = await call(
        () => opts.client.write(`${base}${key}`, { data, options: { cas } }, timeout) as Promise<{ data?: { version?: unknown } } | 'cas_mismatch'>,
        (status, errors) => (status === 400 && errors.some((m) => m.includes('check-and-set')) ? ('cas_mismatch' as const) : undefined),
      );
      if (res === 'cas_mismatch') return res;
      const v = res.data?.version;
      if (typeof v !== 'number') throw new StoreError(store, 'a KV write answer is malformed');
      return v;
    },
    async list(folder) {
      const res = await call(
        () => opts.client.list(`${meta}${folder}`, authoritative) as Promise<{ data?: { keys?: unknown } } | null>,
        (status) => (status === 404 ? null : undefined),
      );
      const keys = res?.data?.keys;
      return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
    },
    close: opts.close,
  };
}
