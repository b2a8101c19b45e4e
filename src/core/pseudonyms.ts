// Identifiers that must not be public in an export (pod UIDs, operator
// subjects) can be written to the ledger as keyed `hmac-sha256:` values, as
// Vault's audit log does: with the per-install key, the broker maps a value
// to its pseudonym for a query, and an auditor given a pseudonym matches it in
// an export without ever seeing the value. Hashed on a copy, never in place.

import { createHmac } from 'node:crypto';
import type { LedgerDraft } from './ledger';

export const pseudonymPrefix = 'hmac-sha256:';

export type Pseudonymiser = (value: string) => string;

/** A key of at least 32 bytes, read once; refuses anything shorter. */
export function pseudonymiser(key: Uint8Array): Pseudonymiser {
  if (key.length < 32) throw new TypeError('a ledger HMAC key needs at least 32 bytes');
  const k = Buffer.from(key);
  return (value) => (value.startsWith(pseudonymPrefix) ? value : `${pseudonymPrefix}${createHmac('sha256', k).update(value, 'utf8').digest('hex')}`);
}

/** Actors are `pod:<uid>` or `operator:<subject>`: the part after the kind is what is hidden. */
export function pseudonymousActor(actor: string, p: Pseudonymiser): string {
  const m = /^(pod|operator):(.+)$/.exec(actor);
  return m ? `${m[1]}:${p(m[2]!)}` : actor;
}

/** Details that name a pod other than the entry's actor: the holder a takeover or promotion superseded. */
export const podDetailFields = ['supersededPod', 'fromPod'] as const;
/** Details that list operator actors. */
const actorListFields = ['approvers'];

export function pseudonymiseDraft(d: LedgerDraft, p: Pseudonymiser): LedgerDraft {
  const details: Record<string, string | number | boolean | null> = { ...d.details };
  for (const f of podDetailFields) {
    const v = details[f];
    if (typeof v === 'string' && v !== '') details[f] = p(v);
  }
  for (const f of actorListFields) {
    const v = details[f];
    if (typeof v === 'string' && v !== '') details[f] = v.split(',').map((a) => pseudonymousActor(a, p)).join(',');
  }
  return { ...d, actor: pseudonymousActor(d.actor, p), details };
}
