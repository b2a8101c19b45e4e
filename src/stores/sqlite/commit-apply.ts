// How a batch of commits is applied to the SQLite file: one IMMEDIATE
// transaction for the batch (one durable sync), each commit in its own
// savepoint so a lost compare-and-swap rolls back only that commit. Shared by
// the state store's own thread (in-memory databases) and the commit worker
// (files), so both apply exactly the same statements.

import type Database from 'better-sqlite3';
import { sealAll, type ChainHead, type LedgerEntry } from '../../core/ledger';
import { KeyInUseError, StateConflictError, CommitDeadlineError, StoreUnavailableError, type Commit } from '../../ports';

/** What of a Commit crosses to the worker: no clock, no signal. */
export type PlainCommit = Pick<Commit, 'record' | 'entries' | 'claimKey'>;

export type Outcome = { readonly ok: LedgerEntry[] } | { readonly err: unknown };

/** `sendable` throws when the commit may no longer be applied (its send deadline passed). */
export interface Applicable {
  readonly commit: PlainCommit;
  readonly sendable: () => void;
}

export function batchCommitter(db: Database.Database, name: string): (batch: readonly Applicable[]) => Outcome[] {
  const stmt = {
    insertRecord: db.prepare('INSERT INTO validators (id, version, record) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING'),
    updateRecord: db.prepare('UPDATE validators SET version = ?, record = ? WHERE id = ? AND version = ?'),
    insertEntry: db.prepare(
      `INSERT INTO ledger (chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash)
       VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prevHash, @hash)`,
    ),
    head: db.prepare('SELECT seq, hash FROM ledger WHERE chain = ? ORDER BY seq DESC LIMIT 1'),
    claimKey: db.prepare('INSERT INTO key_owners (key, validator) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
    keyOwner: db.prepare('SELECT validator FROM key_owners WHERE key = ?'),
  };
  const head = (chain: string): ChainHead | null => {
    const row = stmt.head.get(chain) as { seq: number; hash: string } | undefined;
    return row ? { chain, seq: row.seq, hash: row.hash } : null;
  };
  const applyOne = db.transaction((a: Applicable): LedgerEntry[] => {
    // Checked inside the transaction: past its send deadline a commit is not applied at all.
    a.sendable();
    const { commit } = a;
    const change = commit.record;
    if (change) {
      const { next, expectedVersion } = change;
      const changed =
        expectedVersion === null
          ? stmt.insertRecord.run(next.id, next.version, JSON.stringify(next)).changes
          : stmt.updateRecord.run(next.version, JSON.stringify(next), next.id, expectedVersion).changes;
      if (changed !== 1) throw new StateConflictError(name, next.id);
      if (commit.claimKey !== undefined) {
        stmt.claimKey.run(commit.claimKey, next.id);
        const owner = (stmt.keyOwner.get(commit.claimKey) as { validator: string }).validator;
        if (owner !== next.id) throw new KeyInUseError(name, commit.claimKey, owner);
      }
    }
    const heads = new Map<string, ChainHead | null>();
    for (const d of commit.entries) if (!heads.has(d.chain)) heads.set(d.chain, head(d.chain));
    const sealed = sealAll(commit.entries, heads);
    for (const e of sealed) stmt.insertEntry.run({ ...e, details: JSON.stringify(e.details) });
    return sealed;
  });
  const applyBatch = db.transaction((batch: readonly Applicable[], outcomes: Outcome[]) => {
    for (const a of batch) {
      try {
        // A nested transaction is a savepoint: a throw undoes this commit only.
        outcomes.push({ ok: applyOne(a) });
      } catch (e) {
        outcomes.push({ err: e });
      }
    }
  });
  return (batch) => {
    const outcomes: Outcome[] = [];
    // IMMEDIATE takes the write lock first, so two connections on one file serialise.
    applyBatch.immediate(batch, outcomes);
    return outcomes;
  };
}

/** High-resolution time comparable across the threads of one process. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** A store error as it crosses a thread (structured clone keeps no class). */
export type WireError =
  | { readonly kind: 'conflict'; readonly validator: string }
  | { readonly kind: 'key_in_use'; readonly key: string; readonly owner: string }
  | { readonly kind: 'deadline' }
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'other'; readonly message: string };

export function toWire(e: unknown): WireError {
  if (e instanceof StateConflictError) return { kind: 'conflict', validator: /validator (\S+) /.exec(e.message)?.[1] ?? '' };
  if (e instanceof KeyInUseError) return { kind: 'key_in_use', key: e.key, owner: e.owner };
  if (e instanceof CommitDeadlineError) return { kind: 'deadline' };
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_IOERR') return { kind: 'unavailable', reason: code };
  return { kind: 'other', message: e instanceof Error ? e.message : String(e) };
}

export function fromWire(name: string, w: WireError): Error {
  switch (w.kind) {
    case 'conflict':
      return new StateConflictError(name, w.validator);
    case 'key_in_use':
      return new KeyInUseError(name, w.key, w.owner);
    case 'deadline':
      return new CommitDeadlineError(name);
    case 'unavailable':
      return new StoreUnavailableError(name, w.reason);
    case 'other':
      return new Error(w.message);
  }
}
