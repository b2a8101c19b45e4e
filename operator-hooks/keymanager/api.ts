// The standard Keymanager API (ethereum/keymanager-APIs) of a running
// validator client, as the keeper uses it: list, import with an interchange,
// delete returning one. It never throws for what the client or the network
// does: anything that is not an answer is `unreachable`, which the caller
// must treat as a signer it cannot prove stopped.

import { readFile } from 'node:fs/promises';

export type KmAnswer<T> = { readonly ok: true; readonly body: T } | { readonly ok: false; readonly reason: string };

export interface ImportStatus {
  readonly status: 'imported' | 'duplicate' | 'error';
  readonly message?: string;
}
export interface DeleteStatus {
  readonly status: 'deleted' | 'not_active' | 'not_found' | 'error';
  readonly message?: string;
}
export interface DeleteAnswer {
  readonly data: readonly DeleteStatus[];
  /** EIP-3076 interchange of the deleted keys, as JSON text. */
  readonly slashing_protection: string;
}

export interface KeymanagerApi {
  /** Normalised public keys (lower-case hex with 0x) the client signs with. */
  list(): Promise<KmAnswer<string[]>>;
  importKeys(keystores: readonly string[], passwords: readonly string[], slashingProtection: string | null): Promise<KmAnswer<ImportStatus[]>>;
  deleteKeys(pubkeys: readonly string[]): Promise<KmAnswer<DeleteAnswer>>;
  /**
   * Per-key proposer settings: POST /eth/v1/validator/{pubkey}/feerecipient
   * ({ethaddress}), /gas_limit ({gas_limit} as a decimal string) and
   * /graffiti ({graffiti}), each answered 202 (ethereum/keymanager-APIs).
   */
  setSetting(pubkey: string, setting: 'feerecipient' | 'gas_limit' | 'graffiti', body: Record<string, string>): Promise<KmAnswer<null>>;
}

export const normalisePubkey = (k: string): string => `0x${k.trim().toLowerCase().replace(/^0x/, '')}`;

export function httpKeymanagerApi(opts: { url: URL; tokenFile: string; timeoutMs: number }): KeymanagerApi {
  const call = async <T>(method: 'GET' | 'POST' | 'DELETE', body: unknown, path = '/eth/v1/keystores'): Promise<KmAnswer<T>> => {
    let token: string;
    try {
      // Re-read each time: a restarted client may have written a new token.
      token = (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (e) {
      return { ok: false, reason: `cannot read KEYHOLD_KEYMANAGER_TOKEN_FILE (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    let res: Response;
    try {
      res = await fetch(new URL(path, opts.url), {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      return { ok: false, reason: err.name === 'TimeoutError' ? 'no answer in time' : (err.cause?.code ?? err.name) };
    }
    const parsed = (await res.json().catch(() => null)) as unknown;
    const what = path.startsWith('/eth/v1/validator/') ? `/eth/v1/validator/…/${path.split('/').pop()}` : path;
    // The answer's text is not logged: a client's error message may quote what it was sent.
    if (!res.ok) return { ok: false, reason: `${method} ${what} answered ${res.status}` };
    if (res.status === 202) return { ok: true, body: null as T };
    if (parsed === null || typeof parsed !== 'object') return { ok: false, reason: `${method} ${what}: unreadable answer` };
    return { ok: true, body: parsed as T };
  };
  return {
    async list() {
      const a = await call<{ data?: { validating_pubkey?: unknown }[] }>('GET', undefined);
      if (!a.ok) return a;
      if (!Array.isArray(a.body.data)) return { ok: false, reason: 'GET /eth/v1/keystores: no data list' };
      return { ok: true, body: a.body.data.flatMap((d) => (typeof d?.validating_pubkey === 'string' ? [normalisePubkey(d.validating_pubkey)] : [])) };
    },
    async importKeys(keystores, passwords, slashingProtection) {
      const a = await call<{ data?: ImportStatus[] }>('POST', { keystores, passwords, ...(slashingProtection === null ? {} : { slashing_protection: slashingProtection }) });
      if (!a.ok) return a;
      return Array.isArray(a.body.data) && a.body.data.length === keystores.length ? { ok: true, body: a.body.data } : { ok: false, reason: 'POST /eth/v1/keystores: one status per keystore expected' };
    },
    async deleteKeys(pubkeys) {
      const a = await call<Partial<DeleteAnswer>>('DELETE', { pubkeys });
      if (!a.ok) return a;
      const { data, slashing_protection: sp } = a.body;
      return Array.isArray(data) && data.length === pubkeys.length && typeof sp === 'string'
        ? { ok: true, body: { data, slashing_protection: sp } }
        : { ok: false, reason: 'DELETE /eth/v1/keystores: statuses and an interchange expected' };
    },
    async setSetting(pubkey, setting, body) {
      const a = await call<unknown>('POST', body, `/eth/v1/validator/${normalisePubkey(pubkey)}/${setting}`);
      return a.ok ? { ok: true, body: null } : a;
    },
  };
}
