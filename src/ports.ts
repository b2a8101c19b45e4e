// The interfaces the broker needs from the outside world. Stores are
// untrusted and may fail at any call: adapters translate their answers into
// these types and these errors, nothing more.

import type { ValidatorRecord } from './core/designation';
import type { KeyMaterial } from './core/key-material';
import type { SignedCheckpoint } from './core/checkpoints';
import type { WitnessedObject } from './core/witness';
import type { ChainHead, LedgerDraft, LedgerEntry, VerifyProblem } from './core/ledger';

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Three states, so a readiness probe can tell "don't know yet" from "broken". */
export type HealthState = 'ready' | 'unknown' | 'error';
export interface Health {
  readonly state: HealthState;
  /** A short public reason (never a store's raw error text). */
  readonly detail?: string;
}

// ---------------------------------------------------------------- key store

export interface StoredKey {
  readonly material: KeyMaterial;
  /** The store's own version id of this value. */
  readonly version: string;
}

export interface KeyListing {
  readonly validator: string;
  readonly version: string;
  readonly fingerprint: string;
}

export interface KeyStore {
  readonly name: string;
  /** The current material, or null if this store has none for the validator. */
  get(validator: string): Promise<StoredKey | null>;
  /** Write a new version. Refuses (KeyStoreOwnershipError) to overwrite what keyhold does not own. */
  put(validator: string, material: KeyMaterial): Promise<{ version: string }>;
  list(): Promise<KeyListing[]>;
  health(): Promise<Health>;
  close(): Promise<void>;
}

// -------------------------------------------------------- state + ledger store

export interface RecordChange {
  readonly next: ValidatorRecord;
  /** The version the decision was made from; null: the record must not exist yet. */
  readonly expectedVersion: number | null;
}

export interface CommitDeadline {
  readonly sendBy: number;
  /** The clock the decision was made on: the deadline is in its terms. */
  readonly clock: Clock;
}

export interface Commit {
  /** A designation change, compare-and-swapped on its version. */
  readonly record?: RecordChange;
  /** Ledger entries, sealed by the store onto their chains' heads in the same transaction. */
  readonly entries: readonly LedgerDraft[];
  /**
   * A key (its `keyIdentity`) the record's validator takes, in the same
   * transaction as the record: a key belongs to one validator id for ever, so
   * the commit fails with KeyInUseError, changing nothing, when another
   * validator holds it. Only with `record`; the index entry is never removed.
   */
  readonly claimKey?: string;
  /**
   * After `deadline.sendBy` on the deciding broker's clock the store sends
   * no request of this commit, retries included (core/horizon.ts
   * commitSendBy). What was sent before it lands within the store's own
   * bound (stores/commit-bounds.ts) or is counted from its landing; together
   * that is the commit deadline C.
   */
  readonly deadline?: CommitDeadline;
  /** Aborted when the caller stops waiting: from then on the store sends nothing more for this commit. */
  readonly signal?: AbortSignal;
}

export interface LedgerQuery {
  readonly validator?: string;
  readonly chain?: string;
  readonly slot?: string;
  readonly action?: string;
  readonly actor?: string;
  readonly epoch?: number;
  /** A pod UID: entries by that pod, or naming it as the holder they superseded or moved from. */
  readonly pod?: string;
  /** Inclusive, ms. */
  readonly since?: number;
  /** Exclusive, ms. */
  readonly until?: number;
  /** Opaque, from a previous page. */
  readonly cursor?: string;
  readonly limit: number;
}

export interface LedgerPage {
  readonly entries: LedgerEntry[];
  readonly cursor: string | null;
}

/** A signed checkpoint as the stores keep it (src/core/checkpoints.ts). */
export type StoredCheckpoint = SignedCheckpoint;

export interface StateStore {
  readonly name: string;
  getValidator(id: string): Promise<ValidatorRecord | null>;
  /**
   * The records of `ids`, each as getValidator answers it, in as few requests
   * as the store allows: an absent id is absent from the map, a repeated one
   * is read once. A store that cannot answer every id rejects; it never
   * answers fewer.
   */
  getValidators(ids: readonly string[]): Promise<Map<string, ValidatorRecord>>;
  listValidators(): Promise<ValidatorRecord[]>;
  /** The validator id a key (its `keyIdentity`) belongs to, or null when no commit has claimed it. */
  keyOwner(key: string): Promise<string | null>;
  /**
   * Apply a record change and append its ledger entries, all or nothing.
   * Throws StateConflictError when the record moved since `expectedVersion`
   * (the caller re-reads and decides again); a concurrent append to the same
   * chain is retried by the store itself, since it does not change the decision.
   */
  commit(commit: Commit): Promise<LedgerEntry[]>;
  queryLedger(query: LedgerQuery): Promise<LedgerPage>;
  /** One chain in order, from `fromSeq`, at most `limit` entries. */
  readChain(chain: string, fromSeq: number, limit: number): Promise<LedgerEntry[]>;
  chainHeads(): Promise<ChainHead[]>;
  /**
   * Append a checkpoint at its `seq`, only if none is stored there: false
   * when another broker got there first (the caller re-reads and decides
   * again), so the checkpoint chain never forks.
   */
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<boolean>;
  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  /** Checkpoints in seq order from `fromSeq`, at most `limit`. */
  listCheckpoints(fromSeq: number, limit: number): Promise<StoredCheckpoint[]>;
  /**
   * Record a one-time token id (an operator request's jti, a login code) with
   * one conditional write: true for exactly one caller among any number of
   * brokers racing the same id, false while an earlier record of it is
   * unexpired at `now`. The record expires at `expiresAt` (ms) and may be
   * dropped after; `id` is at most 128 characters of [A-Za-z0-9_-].
   * `attempt` (same rules) names the caller's attempt: called again with the
   * same one, after an answer was lost, it is true if the lost write landed,
   * so a retry never turns the caller's own use into a replay.
   */
  useTokenOnce(id: string, expiresAt: number, now: number, attempt: string): Promise<boolean>;
  health(): Promise<Health>;
  close(): Promise<void>;
}

/**
 * A write-once copy of the checkpoint chain outside the state store
 * (src/witness/). `put` never replaces: false when that seq is already there.
 */
export interface CheckpointWitness {
  /** `s3://bucket/prefix` or `gs://bucket/prefix`, for logs and reports. */
  readonly name: string;
  put(checkpoint: StoredCheckpoint): Promise<boolean>;
  /** Whether the bucket itself refuses deletes and replacements (Object Lock, a locked retention policy). */
  writeOnce(): Promise<boolean>;
  /** Every object version under the prefix, delete markers included. */
  list(onPage?: (objects: number) => void): Promise<WitnessedObject[]>;
  /** One version's body. */
  read(key: string, version: string): Promise<string>;
  close(): void;
}

/** What verifying a set of chains found: the first bad entry (chains in sorted order), and the hashes asked for. */
export interface ChainsVerification {
  readonly problem: VerifyProblem | null;
  readonly entries: number;
  /** chain → hash of the entry at the seq the caller asked about (a checkpoint's heads). */
  readonly hashesAt: ReadonlyMap<string, string>;
}

/**
 * An optional capability: a store that can verify its own chains close to the
 * data, for example on several cores. It answers null when it cannot here,
 * and the caller walks the chains itself.
 */
export interface ChainVerifyingStore {
  verifyChains(chains: readonly string[], hashAt: ReadonlyMap<string, number>): Promise<ChainsVerification | null>;
}

export const canVerifyChains = (s: StateStore): s is StateStore & ChainVerifyingStore => typeof (s as Partial<ChainVerifyingStore>).verifyChains === 'function';

// ------------------------------------------------------------------- errors

/** Base of every error a store adapter raises; `code` is stable. */
export class StoreError extends Error {
  readonly code: string = 'store_error';
  constructor(
    readonly store: string,
    message: string,
    opts?: { cause?: unknown },
  ) {
    super(`${store}: ${message}`, opts);
    this.name = 'StoreError';
  }
}

/** The compare-and-swap lost: someone else changed the record first. */
export class StateConflictError extends StoreError {
  override readonly code = 'state_conflict';
  constructor(store: string, validator: string) {
    super(store, `validator ${validator} changed concurrently`);
    this.name = 'StateConflictError';
  }
}

/** The commit claimed a key that belongs to another validator; nothing changed. */
export class KeyInUseError extends StoreError {
  override readonly code = 'key_in_use';
  constructor(
    store: string,
    readonly key: string,
    readonly owner: string,
  ) {
    super(store, `the key is held by another validator`);
    this.name = 'KeyInUseError';
  }
}

/** The store could not be reached or answered with a fault; the operation may be retried. */
export class StoreUnavailableError extends StoreError {
  override readonly code = 'store_unavailable';
  constructor(store: string, reason: string, opts?: { cause?: unknown }) {
    super(store, `unavailable (${reason})`, opts);
    this.name = 'StoreUnavailableError';
  }
}

/** A commit's send deadline passed (or its caller gave up) before it could be sent in full: it may or may not have landed. */
export class CommitDeadlineError extends StoreUnavailableError {
  constructor(store: string) {
    super(store, 'commit_deadline');
    this.name = 'CommitDeadlineError';
  }
}

/** The ids `useTokenOnce` accepts: safe as a key, a document id and a path segment in every store. */
export const oneTimeTokenId = /^[A-Za-z0-9_-]{1,128}$/;

export function checkTokenId(id: string, expiresAt: number, now: number, attempt: string): void {
  if (!oneTimeTokenId.test(id) || !oneTimeTokenId.test(attempt)) throw new TypeError('a one-time token id (and its attempt) is 1 to 128 characters of [A-Za-z0-9_-]');
  if (!Number.isSafeInteger(expiresAt) || !Number.isSafeInteger(now)) throw new TypeError('one-time token times are integer ms');
}

/** Throws CommitDeadlineError once `commit` may send nothing more: call it right before every request a commit sends. */
export function checkSendable(store: string, commit: Pick<Commit, 'deadline' | 'signal'>): void {
  if (commit.signal?.aborted || (commit.deadline !== undefined && commit.deadline.clock.now() >= commit.deadline.sendBy)) throw new CommitDeadlineError(store);
}

/** keyhold refuses to overwrite or delete an object it did not create. */
export class KeyStoreOwnershipError extends StoreError {
  override readonly code = 'not_owned';
  constructor(store: string, validator: string) {
    super(store, `the secret for ${validator} exists but is not owned by keyhold; refusing to overwrite it`);
    this.name = 'KeyStoreOwnershipError';
  }
}

/** A value larger than the store accepts, refused before any call. */
export class KeyStoreValueTooLargeError extends StoreError {
  override readonly code = 'value_too_large';
  constructor(store: string, size: number, limit: number) {
    super(store, `value of ${size} bytes exceeds the store's limit of ${limit} bytes`);
    this.name = 'KeyStoreValueTooLargeError';
  }
}
