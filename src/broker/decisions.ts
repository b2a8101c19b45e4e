// The shared mechanics of every decision: commit a record change with its
// ledger entries, re-deciding on a lost compare-and-swap, and turn store
// faults into the public 503.

import type { ValidatorRecord } from '../core/designation';
import { KeyholdError } from '../core/errors';
import type { LedgerDraft } from '../core/ledger';
import { brokerChain } from '../core/names';
import { KeyInUseError, StateConflictError, type StateStore } from '../ports';
import { asStateStoreError } from './designation-reader';

/** How often a decision is made again after losing a compare-and-swap to another broker. */
export const casAttempts = 4;

export type DraftInput = Omit<LedgerDraft, 'chain' | 'details'> & { details?: LedgerDraft['details'] };

/** A draft on the validator's own chain, or the broker chain when the validator is unknown. */
export const draft = (input: DraftInput, known: boolean): LedgerDraft => ({
  ...input,
  details: input.details ?? {},
  chain: known && input.validator !== null ? input.validator : brokerChain,
});

/** `claimKey`: the key the record's validator takes in the same transaction (an import); taken by another, 409 `key_in_use`. */
export async function commitOrThrow(store: StateStore, record: { next: ValidatorRecord; expectedVersion: number | null } | undefined, entries: LedgerDraft[], claimKey?: string): Promise<void> {
  try {
    await store.commit(record ? { record, entries, ...(claimKey === undefined ? {} : { claimKey }) } : { entries });
  } catch (e) {
    if (e instanceof StateConflictError) throw e;
    if (e instanceof KeyInUseError) throw new KeyholdError('key_in_use', { cause: e });
    throw asStateStoreError(e);
  }
}

/** Run `attempt` until it does not lose a compare-and-swap; after `casAttempts` losses, 409 `conflict`. */
export async function withCasRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof StateConflictError)) throw e;
      if (i >= casAttempts) throw new KeyholdError('conflict', { cause: e });
    }
  }
}
