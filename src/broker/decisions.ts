// The shared mechanics of every decision: commit a record change with its
// ledger entries, re-deciding on a lost compare-and-swap, and turn store
// faults into the public 503.

import type { ValidatorRecord } from '../core/designation';
import { KeyholdError } from '../core/errors';
import { commitSendBy, type Timing } from '../core/horizon';
import type { LedgerDraft } from '../core/ledger';
import { brokerChain } from '../core/names';
import { KeyInUseError, StateConflictError, StoreUnavailableError, type Clock, type StateStore } from '../ports';
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

/** When the decision was made, so its commit is sent only within the send window of invariant 3. */
export interface CommitWindow {
  readonly timing: Timing;
  readonly decidedAt: number;
  readonly clock: Clock;
}

export interface CommitOptions {
  /** The decision's send window; without one (ledger-only entries) the store's own timeouts bound the call. */
  readonly window?: CommitWindow;
  /** The key the record's validator takes in the same transaction (an import); taken by another, 409 `key_in_use`. */
  readonly claimKey?: string;
}

/**
 * Commit, or throw the public 503. A commit whose outcome is unknown (a
 * timeout, a lost answer, the send deadline) is settled by a read once the
 * store has stopped sending it: if the record it wrote is there, it landed
 * and the decision stands. If not, it may still land up to its deadline C,
 * which every wait it could start already counts from.
 */
export async function commitOrThrow(store: StateStore, record: { next: ValidatorRecord; expectedVersion: number | null } | undefined, entries: LedgerDraft[], opts: CommitOptions = {}): Promise<void> {
  const { window, claimKey } = opts;
  const deadline = window ? { deadline: { sendBy: commitSendBy(window.timing, window.decidedAt), clock: window.clock } } : {};
  const claim = record && claimKey !== undefined ? { claimKey } : {};
  try {
    await store.commit(record ? { record, entries, ...claim, ...deadline } : { entries, ...deadline });
  } catch (e) {
    if (e instanceof StateConflictError) throw e;
    if (e instanceof KeyInUseError) throw new KeyholdError('key_in_use', { cause: e });
    if (record && isUnknownOutcome(e) && (await landed(store, record.next))) return;
    throw asStateStoreError(e);
  }
}

const isUnknownOutcome = (e: unknown): boolean =>
  e instanceof StoreUnavailableError || (typeof e === 'object' && e !== null && ['TimeoutError', 'TaskCancelledError'].includes((e as Error).name));

/** The record as this commit wrote it is the current one: same version, same designation. */
async function landed(store: StateStore, next: ValidatorRecord): Promise<boolean> {
  try {
    const now = await store.getValidator(next.id);
    if (!now || now.version !== next.version) return false;
    const a = now.designation;
    const b = next.designation;
    return a.epoch === b.epoch && a.slot === b.slot && a.podUid === b.podUid && a.state === b.state && a.updatedAt === b.updatedAt;
  } catch {
    return false;
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
