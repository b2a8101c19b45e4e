// Firestore state + ledger store. Every decision is one `runTransaction`:
// the record and each chain head it appends to are read inside the
// transaction, so the commit fails (and the client retries the attempt) if
// another broker changed any of them in between; a decision and its ledger
// entries commit together or not at all
// (https://cloud.google.com/firestore/docs/manage-data/transactions,
// https://cloud.google.com/firestore/docs/transaction-data-contention).
//
// Layout, `<p>` the collection prefix (default `keyhold`):
//
//   <p>_validators/<validator>            { version, record (JSON text), commit }
//   <p>_keys/<key>                        { validator, commit }: the key index, one validator id per key, for ever
//   <p>_chains/<chain>                    head: { seq, hash, commit }
//   <p>_chains/<chain>/entries/<seq 12 d> { entry (JSON text), time }
//   <p>_ledger/<time 15 d>#<chain>#<seq>  { entry, chain, validator, slot, action, time }
//   <p>_checkpoint_chain/<seq 12 d>       { order (= the seq), body (JSON text) | parts, part (its first bytes) }, created only if absent
//   <p>_checkpoint_parts/<seq>-<part 4 d> { part }: the rest of a checkpoint past one document, created in one batch with it
//   <p>_used_tokens/<token id>            { expiresAt (ms), attempt, expireAt (Timestamp, the TTL policy's field) }
//
// Records and entries are stored as JSON text, not as Firestore maps, so what
// is hashed is exactly what comes back (no integer/double or empty-map
// conversions), and is checked on the way in like any store's answer.
// Reads that feed a decision or a renewal are authoritative: Firestore
// document reads are strongly consistent (https://cloud.google.com/firestore/docs/overview,
// "strong consistency"), and every decision is re-read and compare-and-swapped
// on its version inside the commit's transaction, so a decision made from a
// read that another broker has since overtaken can never commit.
//
// Audit queries read `<p>_ledger` in document-id order, which is (time,
// chain, seq) order, and filter on the client: no composite index is needed.
// Its ids rise with time, which Firestore limits to about 500 writes/s
// (https://cloud.google.com/firestore/docs/best-practices#hotspots): orders
// of magnitude above a broker's decision rate.

import { randomUUID } from 'node:crypto';
import { FieldPath, Firestore, Timestamp, type DocumentReference, type DocumentSnapshot, type Settings } from '@google-cloud/firestore';
import type { ValidatorRecord } from '../../core/designation';
import { sealAll, type ChainHead, type LedgerEntry } from '../../core/ledger';
import {
  KeyInUseError,
  StateConflictError,
  StoreError,
  StoreUnavailableError,
  checkSendable,
  checkTokenId,
  type Commit,
  type Health,
  type LedgerPage,
  type LedgerQuery,
  type StateStore,
  type StoredCheckpoint,
} from '../../ports';
import { checkChainName, decodeCheckpoint, encodeCheckpoint, encodeEntry, matchesQuery, orderKey, padSeq, padTime, parseEntry, partsOf } from '../ledger-codec';
import { decodeCursor, encodeCursor } from '../ledger-cursor';
import { parseRecord } from '../record-codec';
import { eachBatch } from '../../each-bounded';

/** Documents per getAll call and calls in flight: a list renewal of 1,000 validators is 10 calls, 8 at a time. */
const getAllDocs = 100;
const getAllWidth = 8;

export interface FirestoreStateStoreOptions {
  readonly db: Firestore;
  readonly collectionPrefix?: string;
  /**
   * `maxAttempts` of runTransaction. Contention on a chain head or record
   * aborts an attempt and the client retries it, passing the aborted
   * transaction's id so the retry keeps its place in the lock queue (without
   * that, fresh transactions on a hot chain starve each other). Each attempt
   * re-reads the record and the heads, so a retry re-seals the same decision;
   * a lost record compare-and-swap is thrown from the callback as
   * StateConflictError, which the client never retries. Small (default 5, the
   * client's own default) because the client backs off about 1 s between
   * attempts (build/src/backoff.js) and the resilience layer bounds the whole
   * call: more attempts would only run on after the broker has answered 503.
   */
  readonly maxAttempts?: number;
  /** Test seam: called at named points of a commit; throwing there simulates a broker that died. */
  readonly crashPoint?: (point: 'before-commit' | 'after-commit') => void;
}

const scanPage = 300;
const partId = (seq: string, i: number): string => `${seq}-${String(i).padStart(4, '0')}`;
/**
 * A checkpoint part's bytes: a document holds 1 MiB, a field 1,048,487
 * bytes (https://cloud.google.com/firestore/quotas#collections_documents_and_fields).
 */
const checkpointPartBytes = 512 * 1024;
/** A request carries at most 10 MiB (same page): 16 parts, a checkpoint of about 80,000 chain heads. */
const maxCheckpointParts = 16;

export class FirestoreStateStore implements StateStore {
  readonly name = 'firestore';
  private readonly db: Firestore;
  private readonly p: string;
  private readonly maxAttempts: number;
  private readonly crashPoint: FirestoreStateStoreOptions['crashPoint'];

  constructor(opts: FirestoreStateStoreOptions) {
    this.db = opts.db;
    this.p = opts.collectionPrefix ?? 'keyhold';
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.crashPoint = opts.crashPoint;
  }

  private validators = () => this.db.collection(`${this.p}_validators`);
  private keys = () => this.db.collection(`${this.p}_keys`);
  private chains = () => this.db.collection(`${this.p}_chains`);
  private entries = (chain: string) => this.chains().doc(chain).collection('entries');
  private ledger = () => this.db.collection(`${this.p}_ledger`);
  private checkpoints = () => this.db.collection(`${this.p}_checkpoint_chain`);
  private checkpointParts = () => this.db.collection(`${this.p}_checkpoint_parts`);
  private usedTokens = () => this.db.collection(`${this.p}_used_tokens`);

  async getValidator(id: string): Promise<ValidatorRecord | null> {
    const snap = await this.call(() => this.validators().doc(id).get());
    return snap.exists ? this.record(snap) : null;
  }

  /** Firestore's getAll (one BatchGetDocuments each), `getAllDocs` documents a call, a few calls at once. */
  async getValidators(ids: readonly string[]): Promise<Map<string, ValidatorRecord>> {
    const out = new Map<string, ValidatorRecord>();
    await eachBatch(ids, getAllDocs, getAllWidth, async (chunk) => {
      const snaps = await this.call(() => this.db.getAll(...chunk.map((id) => this.validators().doc(id))));
      for (const snap of snaps) if (snap.exists) out.set(snap.id, this.record(snap));
    });
    return out;
  }

  async listValidators(): Promise<ValidatorRecord[]> {
    const snaps = await this.call(() => this.validators().orderBy(FieldPath.documentId()).get());
    return snaps.docs.map((d) => this.record(d));
  }

  async keyOwner(key: string): Promise<string | null> {
    const snap = await this.call(() => this.keys().doc(key).get());
    return snap.exists ? this.owner(snap) : null;
  }

  async commit(commit: Commit): Promise<LedgerEntry[]> {
    for (const d of commit.entries) checkChainName(d.chain);
    const chains = [...new Set(commit.entries.map((d) => d.chain))];
    // A commit id lets a retried attempt recognise that an earlier attempt
    // whose answer was lost (DEADLINE_EXCEEDED, UNAVAILABLE: both retried by
    // the client) did commit, instead of appending the same entries twice.
    const commitId = randomUUID();
    let previous: LedgerEntry[] | null = null;
    const change = commit.record;
    const claim = change && commit.claimKey !== undefined ? commit.claimKey : null;
    const attempt = () =>
      this.db.runTransaction(
        async (tx) => {
          // No attempt, first or retried by the client, begins after the send
          // deadline; and one whose reads (which begin the transaction on the
          // server) come back after it does not commit. Begun before the
          // deadline, the transaction cannot commit more than 270 s later
          // (stores/commit-bounds.ts).
          checkSendable(this.name, commit);
          const refs: DocumentReference[] = [
            ...(change ? [this.validators().doc(change.next.id)] : []),
            ...(claim !== null ? [this.keys().doc(claim)] : []),
            ...chains.map((c) => this.chains().doc(c)),
          ];
          // Firestore transactions read everything before writing anything.
          const snaps = refs.length ? await tx.getAll(...refs) : [];
          checkSendable(this.name, commit);
          const recordSnap = change ? snaps[0]! : null;
          const keySnap = claim !== null ? snaps[1]! : null;
          const headSnaps = snaps.slice((change ? 1 : 0) + (claim !== null ? 1 : 0));
          const done = (recordSnap?.get('commit') ?? headSnaps[0]?.get('commit')) === commitId;
          if (done && previous) return previous;
          if (change && recordSnap) {
            const { next, expectedVersion } = change;
            if (expectedVersion === null ? recordSnap.exists : !recordSnap.exists || this.num(recordSnap, 'version') !== expectedVersion) {
              throw new StateConflictError(this.name, next.id);
            }
            tx.set(recordSnap.ref, { version: next.version, record: JSON.stringify(next), commit: commitId });
            if (keySnap && claim !== null) {
              // Read in this transaction: a concurrent claim of the same key aborts one of the two.
              const owner = keySnap.exists ? this.owner(keySnap) : null;
              if (owner !== null && owner !== next.id) throw new KeyInUseError(this.name, claim, owner);
              if (owner === null) tx.create(keySnap.ref, { validator: next.id, commit: commitId });
            }
          }
          const heads = new Map<string, ChainHead | null>(chains.map((c, i) => [c, this.headOf(c, headSnaps[i]!)]));
          const out = sealAll(commit.entries, heads);
          for (const [i, chain] of chains.entries()) {
            const last = out.filter((e) => e.chain === chain).at(-1)!;
            tx.set(headSnaps[i]!.ref, { seq: last.seq, hash: last.hash, commit: commitId });
          }
          for (const e of out) {
            const entry = encodeEntry(e);
            tx.create(this.entries(e.chain).doc(padSeq(e.seq)), { entry, time: e.time });
            tx.create(this.ledger().doc(orderKey(e)), { entry, chain: e.chain, validator: e.validator, slot: e.slot, action: e.action, time: e.time });
          }
          this.crashPoint?.('before-commit');
          previous = out;
          return out;
        },
        { maxAttempts: this.maxAttempts },
      );
    const sealed = await this.call(attempt);
    this.crashPoint?.('after-commit');
    return sealed;
  }

  private headOf(chain: string, snap: DocumentSnapshot): ChainHead | null {
    if (!snap.exists) return null;
    const hash = snap.get('hash') as unknown;
    if (typeof hash !== 'string') throw new StoreError(this.name, 'a stored chain head is malformed');
    return { chain, seq: this.num(snap, 'seq'), hash };
  }

  async queryLedger(q: LedgerQuery): Promise<LedgerPage> {
    const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const want = q.limit + 1;
    const out: LedgerEntry[] = [];
    // Lower bound by id: after the cursor, or from `since`; upper bound: before `until`.
    let after: string | null = cursor && (q.since === undefined || cursor.time >= q.since) ? orderKey(cursor) : null;
    const from = after === null && q.since !== undefined ? padTime(q.since) : null;
    const to = q.until === undefined ? null : padTime(q.until);
    for (;;) {
      let query = this.ledger().orderBy(FieldPath.documentId());
      if (after !== null) query = query.where(FieldPath.documentId(), '>', after);
      else if (from !== null) query = query.where(FieldPath.documentId(), '>=', from);
      if (to !== null) query = query.where(FieldPath.documentId(), '<', to);
      const page = await this.call(() => query.limit(scanPage).get());
      for (const d of page.docs) {
        const e = parseEntry(this.name, d.get('entry'));
        if (matchesQuery(e, q)) out.push(e);
      }
      if (page.docs.length < scanPage || out.length >= want) break;
      after = page.docs.at(-1)!.id;
    }
    const entries = out.slice(0, q.limit);
    const last = entries.at(-1);
    return { entries, cursor: out.length > q.limit && last ? encodeCursor(last) : null };
  }

  async readChain(chain: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    checkChainName(chain);
    if (limit <= 0) return [];
    const snaps = await this.call(() =>
      this.entries(chain)
        .orderBy(FieldPath.documentId())
        .where(FieldPath.documentId(), '>=', padSeq(Math.max(1, fromSeq)))
        .limit(limit)
        .get(),
    );
    return snaps.docs.map((d) => parseEntry(this.name, d.get('entry')));
  }

  async chainHeads(): Promise<ChainHead[]> {
    const snaps = await this.call(() => this.chains().orderBy(FieldPath.documentId()).get());
    // Document ids order as UTF-8 bytes; chain names are ASCII, so this is SQLite's order.
    return snaps.docs.map((d) => this.headOf(d.id, d)!);
  }

  /**
   * Created only if absent, so the chain never forks. A body past one
   * document (a keyframe, every 60th checkpoint, names every chain head: about 1 MB at 10,000
   * validators, and a field holds 1,048,487 bytes) is split across parts
   * created in one batch with the checkpoint's own document, so a reader
   * sees all of it or none.
   */
  async putCheckpoint(c: StoredCheckpoint): Promise<boolean> {
    const body = encodeCheckpoint(c);
    const seq = padSeq(c.seq);
    const bytes = Buffer.from(body, 'utf8');
    try {
      if (bytes.length <= checkpointPartBytes) {
        await this.checkpoints().doc(seq).create({ order: c.seq, body });
        return true;
      }
      const parts = partsOf(bytes, checkpointPartBytes);
      if (parts.length > maxCheckpointParts) throw new StoreError(this.name, `a checkpoint of ${bytes.length} bytes is past what one batch writes`);
      const batch = this.db.batch().create(this.checkpoints().doc(seq), { order: c.seq, parts: parts.length, part: parts[0]! });
      parts.slice(1).forEach((b, i) => batch.create(this.checkpointParts().doc(partId(seq, i + 1)), { part: b }));
      await batch.commit();
      return true;
    } catch (e) {
      // ALREADY_EXISTS: another broker appended this seq first.
      if ((e as { code?: unknown }).code === 6) return false;
      throw this.fault(e);
    }
  }

  private async checkpointOf(doc: DocumentSnapshot): Promise<StoredCheckpoint> {
    const body: unknown = doc.get('body');
    if (body !== undefined) return decodeCheckpoint(this.name, body);
    const count = this.num(doc, 'parts');
    if (count < 2 || count > maxCheckpointParts) throw new StoreError(this.name, 'a stored checkpoint has a bad part count');
    const rest = await this.call(() => this.db.getAll(...Array.from({ length: count - 1 }, (_, i) => this.checkpointParts().doc(partId(doc.id, i + 1)))));
    const parts: unknown[] = [doc.get('part'), ...rest.map((p) => (p.exists ? p.get('part') : undefined))];
    if (!parts.every((b): b is Uint8Array => b instanceof Uint8Array)) throw new StoreError(this.name, 'a stored checkpoint lacks one of its parts');
    return decodeCheckpoint(this.name, Buffer.concat(parts).toString('utf8'));
  }

  /**
   * `create` fails with ALREADY_EXISTS for all but one racing broker. An
   * expired record (its TTL policy on `expireAt` not yet run) is taken over
   * in a transaction, which re-reads it, so of several takers one wins.
   */
  async useTokenOnce(id: string, expiresAt: number, now: number, attempt: string): Promise<boolean> {
    checkTokenId(id, expiresAt, now, attempt);
    const ref = this.usedTokens().doc(id);
    const data = { expiresAt, attempt, expireAt: Timestamp.fromMillis(expiresAt) };
    try {
      await ref.create(data);
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 6) throw this.fault(e);
    }
    return this.call(() =>
      this.db.runTransaction(
        async (tx) => {
          const snap = await tx.get(ref);
          if (snap.exists && snap.get('attempt') === attempt) return true;
          if (snap.exists && this.num(snap, 'expiresAt') > now) return false;
          tx.set(ref, data);
          return true;
        },
        { maxAttempts: this.maxAttempts },
      ),
    );
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    // Firestore scans document ids ascending only; a copy of the seq in a field has a descending single-field index.
    const snaps = await this.call(() => this.checkpoints().orderBy('order', 'desc').limit(1).get());
    const doc = snaps.docs[0];
    return doc ? this.checkpointOf(doc) : null;
  }

  async listCheckpoints(fromSeq: number, limit: number): Promise<StoredCheckpoint[]> {
    if (limit <= 0) return [];
    const snaps = await this.call(() => this.checkpoints().orderBy(FieldPath.documentId()).where(FieldPath.documentId(), '>=', padSeq(Math.max(1, fromSeq))).limit(limit).get());
    const out: StoredCheckpoint[] = [];
    for (const d of snaps.docs) out.push(await this.checkpointOf(d));
    return out;
  }

  async health(): Promise<Health> {
    try {
      await this.validators().doc('_health').get();
      return { state: 'ready' };
    } catch {
      return { state: 'error', detail: 'firestore read failed' };
    }
  }

  async close(): Promise<void> {
    await this.db.terminate();
  }

  private record(snap: DocumentSnapshot): ValidatorRecord {
    const r = parseRecord(snap.get('record') as unknown);
    if (r.version !== snap.get('version') || r.id !== snap.id) throw new StoreError(this.name, 'a stored validator record disagrees with its document');
    return r;
  }

  private owner(snap: DocumentSnapshot): string {
    const v = snap.get('validator') as unknown;
    if (typeof v !== 'string') throw new StoreError(this.name, 'a stored key index entry is malformed');
    return v;
  }

  private num(snap: DocumentSnapshot, field: string): number {
    const v = snap.get(field) as unknown;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new StoreError(this.name, `a stored document has a bad ${field}`);
    return v;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.fault(e);
    }
  }

  private fault(e: unknown): unknown {
    if (e instanceof StoreError || e instanceof TypeError) return e;
    // gRPC status codes only: the raw message can name documents.
    const code = (e as { code?: unknown }).code;
    return new StoreUnavailableError(this.name, typeof code === 'number' ? `grpc_${code}` : 'error', { cause: e });
  }
}

/**
 * A Firestore client; with `emulatorHost` it speaks plaintext to the emulator and never asks for Google credentials.
 *
 * gRPC, always. `preferRest` is the client's documented setting to speak
 * HTTP/1.1 REST for every call that does not stream and load gRPC only when
 * one does (Settings.preferRest in @google-cloud/firestore's
 * types/firestore.d.ts;
 * https://firebase.google.com/docs/reference/admin/node/firebase-admin.firestore.firestoresettings),
 * which would spare a cold instance the gRPC stack. It was tried against this
 * store's contract on the emulator (@google-cloud/firestore 8.7.1, google-gax
 * 5.0.8) and failed 6 of 17: some errors come back with the HTTP status as
 * their code (409, not ALREADY_EXISTS), so a used token id or a taken
 * checkpoint seq would read as an outage, and concurrent transactions from
 * several instances time out instead of retrying. Setting it false here also
 * overrides the SDK's own FIRESTORE_PREFER_REST environment variable.
 */
export function firestoreClient(opts: { projectId: string; databaseId: string; emulatorHost?: string }): Firestore {
  const settings: Settings = {
    projectId: opts.projectId,
    databaseId: opts.databaseId,
    preferRest: false,
    ...(opts.emulatorHost ? { host: opts.emulatorHost, ssl: false } : {}),
  };
  return new Firestore(settings);
}
