// Many validators in one pod request (issue 13): each validator is still
// decided, fenced and ledgered on its own by GrantService, so a refusal for
// one never costs another its grant, and the answer says per validator what
// happened. A failure that is not a refusal (a bug) becomes `internal` for
// that validator only; the caller logs it.

import { decodeJwt } from 'jose';
import { KeyholdError, type ErrorCode } from '../core/errors';
import type { EphemeralKey } from '../grants/key-delivery';
import type { PodIdentity } from '../identity/pod-token';
import type { FetchResult, GrantService, RenewResult } from './grants';
import { eachBounded } from '../each-bounded';

export { eachBounded };

/** Largest list one request may carry: 1,000 keys per validator client is what operators run. */
export const maxBatch = 1000;

export type Outcome<T> =
  | { readonly ok: true; readonly validator: string; readonly value: T }
  | { readonly ok: false; readonly validator: string | null; readonly code: ErrorCode; readonly status: number; readonly retryAfter?: number; readonly error?: unknown };

function refused(validator: string | null, e: unknown): Outcome<never> {
  if (e instanceof KeyholdError) return { ok: false, validator, code: e.code, status: e.status, ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter }) };
  return { ok: false, validator, code: 'internal', status: 500, error: e };
}

/**
 * Fetches run a few at a time: each one may read a key store and commits its
 * own decision, and a store's quota is shared by every validator of the pod.
 */
export function fetchMany(grants: GrantService, pod: PodIdentity, validators: readonly string[], ephemeral: EphemeralKey): Promise<Outcome<FetchResult>[]> {
  return eachBounded(validators, 4, async (validator) => {
    try {
      return { ok: true, validator, value: await grants.fetch(pod, validator, ephemeral) } as const;
    } catch (e) {
      return refused(validator, e);
    }
  });
}

/** Renewals read designations and sign; none reads a key store or writes the state store (GrantService.renew). */
export function renewMany(grants: GrantService, pod: PodIdentity, tokens: readonly string[]): Promise<Outcome<RenewResult>[]> {
  return eachBounded(tokens, 16, async (token) => {
    try {
      const r = await grants.renew(pod, token);
      return { ok: true, validator: r.grant.claims.validator, value: r } as const;
    } catch (e) {
      // GrantService.renew verifies the grant before anything else, so any
      // other refusal is about a grant this broker signed; one that does not
      // verify names no validator.
      const verified = !(e instanceof KeyholdError) || e.code !== 'invalid_grant';
      return refused(verified ? validatorOf(token) : null, e);
    }
  });
}

function validatorOf(token: string): string | null {
  try {
    const sub = decodeJwt(token).sub;
    return typeof sub === 'string' ? sub : null;
  } catch {
    return null;
  }
}
