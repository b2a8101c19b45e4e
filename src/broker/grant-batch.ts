// Many validators in one pod request (issue 13): each validator is still
// decided, fenced and ledgered on its own by GrantService, so a refusal for
// one never costs another its grant, and the answer says per validator what
// happened. A failure that is not a refusal (a bug) becomes `internal` for
// that validator only; the caller logs it.

import { decodeJwt } from 'jose';
import { KeyholdError, type ErrorCode } from '../core/errors';
import type { EphemeralKey } from '../grants/key-delivery';
import type { PodIdentity } from '../identity/pod-token';
import type { RenewalRead } from './designation-reader';
import type { FetchResult, GrantService, RenewResult } from './grants';
import { eachBounded } from '../each-bounded';

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

/**
 * Renewals read designations and sign; none reads a key store or writes the
 * state store (GrantService.renew). Every grant is verified first, the
 * designations of the verified ones are read in one batched read, and each
 * is then decided and signed as a single renewal would be, from its own read.
 */
export async function renewMany(grants: GrantService, pod: PodIdentity, tokens: readonly string[]): Promise<Outcome<RenewResult>[]> {
  const presented = await eachBounded(tokens, 16, async (token) => {
    try {
      return { ok: true, value: await grants.verifyRenewal(token) } as const;
    } catch (e) {
      // One that does not verify names no validator; any other failure here is a bug, about the validator the token names.
      const verified = !(e instanceof KeyholdError) || e.code !== 'invalid_grant';
      return refused(verified ? validatorOf(token) : null, e);
    }
  });
  const validators = presented.flatMap((p) => (p.ok ? [p.value.claims.validator] : []));
  const reads = validators.length > 0 ? await grants.readForRenewals(validators) : new Map<string, RenewalRead>();
  return eachBounded(presented, 16, async (p) => {
    if (!p.ok) return p;
    const validator = p.value.claims.validator;
    const read = reads.get(validator);
    try {
      if (!read) throw new TypeError('a batched read left out a validator it was asked for');
      if (!read.ok) throw read.error;
      return { ok: true, validator, value: await grants.renewFrom(pod, p.value, read.read) } as const;
    } catch (e) {
      return refused(validator, e);
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
