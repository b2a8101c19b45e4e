// The broker's pod-facing HTTP API (POST /v1/grants, /renew, /release) as
// typed answers. It never throws for what the network or the broker does:
// a refusal keeps its stable `code` and Retry-After, and anything that is not
// an answer is `unreachable`, so the callers decide what waiting means.

import { readFile } from 'node:fs/promises';
import type { ErrorCode } from '../src/core/errors';
import type { EphemeralKey } from '../src/grants/key-delivery';

export interface GrantView {
  readonly validator: string;
  readonly slot: string;
  readonly grant: string;
  readonly epoch: number;
  readonly expiresAt: string;
}
/** How the holder before this one ended: see Predecessor in src/core/designation.ts. */
export type Predecessor = 'none' | 'released' | 'acknowledged' | 'unproven';
export interface FetchView extends GrantView {
  readonly key: string;
  readonly predecessor?: Predecessor;
}
export interface ReleaseView {
  readonly outcome: 'released' | 'already_released' | 'acknowledged' | 'already_acknowledged';
  readonly epoch: number;
  readonly slashingProtection: 'stored' | 'refused' | 'none';
  /** Why the interchange was not kept (the release itself still counts). */
  readonly slashingProtectionCode?: string;
  /** On an acknowledgement: unproven means the successor waits out the horizon. */
  readonly stop?: StopEvidence;
}

/** One validator's line in a list answer (POST /v1/grants or /renew with a list). */
export type ListItem<T> =
  | ({ readonly outcome: 'issued' | 'renewed' } & T)
  | { readonly outcome: 'refused'; readonly validator: string | null; readonly status: number; readonly code: string; readonly retryAfter?: number };
export interface ListView<T> {
  readonly results: readonly ListItem<T>[];
}

/** A list item as the answer a single request would have had. */
export function itemAnswer<T>(item: ListItem<T>): Answer<T> {
  if (item.outcome !== 'refused') return { ok: true, status: 200, body: item as T };
  return { ok: false, kind: 'refused', status: item.status, code: item.code, retryAfterMs: item.retryAfter === undefined ? null : item.retryAfter * 1000 };
}

/** The keeper's evidence that the signer stopped (see signer.ts). */
export type StopEvidence = 'proven' | 'unproven';

export type Answer<T> =
  | { readonly ok: true; readonly status: number; readonly body: T }
  | { readonly ok: false; readonly kind: 'refused'; readonly status: number; readonly code: ErrorCode | string; readonly retryAfterMs: number | null }
  | { readonly ok: false; readonly kind: 'unreachable'; readonly reason: string };

export type Failure = Exclude<Answer<unknown>, { ok: true }>;

export interface BrokerClient {
  /** `waitMs`: let the broker hold a 425 until the designation changes (POST /v1/grants `wait`, whole seconds). */
  fetchGrant(ephemeralKey: EphemeralKey, opts?: RequestOpts & { readonly waitMs?: number }): Promise<Answer<FetchView>>;
  renew(grant: string, opts?: RequestOpts): Promise<Answer<GrantView>>;
  release(grant: string, slashingProtection: Record<string, unknown> | null, stop: StopEvidence, opts?: RequestOpts): Promise<Answer<ReleaseView>>;
}

/** The list forms, for a pod holding several validators. */
export interface ListBrokerClient {
  fetchGrants(validators: readonly string[], ephemeralKey: EphemeralKey, opts?: RequestOpts): Promise<Answer<ListView<FetchView>>>;
  renewGrants(grants: readonly string[], opts?: RequestOpts): Promise<Answer<ListView<GrantView>>>;
}

export interface RequestOpts {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** Retry-After is delta-seconds or an HTTP date; ms from `now`, or null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function httpBrokerClient(opts: { url: URL; validator: string; tokenFile: string; timeoutMs: number; now?: () => number }): BrokerClient & ListBrokerClient {
  const now = opts.now ?? Date.now;
  /** `heldMs`: how long the broker may hold the answer on purpose, on top of the timeout. */
  const post = async <T>(path: string, body: unknown, req: RequestOpts = {}, heldMs = 0): Promise<Answer<T>> => {
    let token: string;
    try {
      // Re-read every time: the kubelet rotates the projected token in place.
      token = (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (e) {
      return { ok: false, kind: 'unreachable', reason: `cannot read KEYHOLD_TOKEN_FILE (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    // AbortSignal.timeout takes whole ms only; rounding down keeps a request inside the keeper's deadline.
    const signals = [AbortSignal.timeout(Math.max(1, Math.floor(Math.min(req.timeoutMs ?? opts.timeoutMs, opts.timeoutMs) + heldMs)))];
    if (req.signal) signals.push(req.signal);
    let res: Response;
    try {
      res = await fetch(new URL(path, opts.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any(signals),
        redirect: 'error',
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const reason = err.name === 'TimeoutError' || err.name === 'AbortError' ? 'no answer in time' : (err.cause?.code ?? err.name);
      return { ok: false, kind: 'unreachable', reason };
    }
    let parsed: unknown = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    if (res.ok) {
      if (parsed === null || typeof parsed !== 'object') return { ok: false, kind: 'unreachable', reason: `unreadable ${res.status} answer` };
      return { ok: true, status: res.status, body: parsed as T };
    }
    const code = typeof (parsed as { code?: unknown } | null)?.code === 'string' ? (parsed as { code: string }).code : `http_${res.status}`;
    return { ok: false, kind: 'refused', status: res.status, code, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), now()) };
  };
  return {
    fetchGrant: (ephemeralKey, req = {}) => {
      const wait = Math.floor((req.waitMs ?? 0) / 1000);
      return post('/v1/grants', wait > 0 ? { validator: opts.validator, ephemeralKey, wait } : { validator: opts.validator, ephemeralKey }, req, wait * 1000);
    },
    renew: (grant, req) => post('/v1/grants/renew', { grant }, req),
    fetchGrants: (validators, ephemeralKey, req) => post('/v1/grants', { validators, ephemeralKey }, req),
    renewGrants: (grants, req) => post('/v1/grants/renew', { grants }, req),
    release: (grant, slashingProtection, stop, req) =>
      post('/v1/grants/release', slashingProtection === null ? { grant, stop } : { grant, slashingProtection, stop }, req),
  };
}
