// Vault KV v2 state + ledger store. KV v2 has check-and-set on one key
// ("cas: the write is allowed only if the key's current version matches";
// cas 0 creates only, https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#create-update-secret)
// and no multi-key transaction, so a decision is written as an INTENT:
//
//   1. the ledger entries, each a create-only key `chains/<chain>/<seq>`
//      (cas 0: two brokers can never both write one position, so a chain
//      never forks), carrying beside the entry an unhashed marker
//      { nonce, validator, from } naming the designation version it expects;
//   2. the designation `validators/<id>`, cas = `from`, data { record, intent: nonce };
//   3. the marker updated to committed (a new KV version of the same entry;
//      best effort: readers can tell without it).
//
// The entry itself never changes after step 1, so its hash stays valid
// whatever becomes of the intent. An intent's outcome is a fact of the
// designation's history: committed iff version `from + 1` of `validators/<id>`
// carries its nonce. When that version does not exist yet, the writer may be
// alive (about to CAS) or dead; after a grace period anyone may FENCE it by
// writing version `from + 1` themselves (same record, intent `fence:<nonce>`):
// then the writer's CAS can only fail. An aborted intent stays in the chain,
// and the resolver appends right after it an entry `denied` / `intent_aborted`
// naming its nonce and seqs: the chain has no holes, `verify` passes, and an
// auditor sees that the entries before it never took effect.
//
// Every appender resolves a chain's tail before sealing onto it, and every
// designation change appends to the validator's own chain first, so at most
// one intent per validator is ever open and version `from + 1` is always one
// of the last two versions (safe under KV's max_versions pruning).
//
// A key a designation change claims (an import) is bound first, by a
// create-only write of `keys/<key>` naming the validator, before the intent:
// a designation that names a key therefore never exists without its binding,
// and a binding, once written, never changes. If the import then fails (a
// lost CAS, a broker that died), the key stays bound to that id: importing it
// again under the same id succeeds, under any other it is refused. That
// refuses more than a transaction would, never less.
//
// Keys, under `<mount>/data/<prefix>`:
//   validators/<id>              { record (JSON text) | null, intent }
//   keys/<key>                   { validator }  the key index, one validator id per key, for ever
//   chains/<chain>/<seq 12 d>    { entry (JSON text), intent?, state? }
//   heads/<chain>                { seq }   a hint only: readers probe past it
//   checkpoints/<seq 12 d>       { body }  the signed checkpoint chain, each created only (cas 0)
//   used-tokens/<token id>       { expiresAt, attempt }  a one-time token id, created only (cas 0), or taken over
//                                once expired (cas = its version). KV v2 has no per-key TTL, and
//                                the mount's delete_version_after would prune the ledger too, so
//                                these stay: one small key per operator request.
//
// Audit queries read whole chains (entries are immutable, so each instance
// caches them) and merge: Vault is not a query engine, and a deployment that
// needs large audit queries should use DynamoDB or Firestore.

import { randomUUID } from 'node:crypto';
import type { ValidatorRecord } from '../../core/designation';
import { landedNotBefore, type Timing } from '../../core/horizon';
import { sealEntry, type ChainHead, type LedgerDraft, type LedgerEntry } from '../../core/ledger';
import {
  KeyInUseError,
  StateConflictError,
  StoreError,
  StoreUnavailableError,
  checkSendable,
  checkTokenId,
  systemClock,
  type Clock,
  type Commit,
  type Health,
  type LedgerPage,
  type LedgerQuery,
  type StateStore,
  type StoredCheckpoint,
} from '../../ports';
import { checkChainName, compareEntries, decodeCheckpoint, encodeCheckpoint, encodeEntry, matchesQuery, padSeq, parseEntry } from '../ledger-codec';
import { decodeCursor, encodeCursor } from '../ledger-cursor';
import { parseRecord } from '../record-codec';
import { eachBounded } from '../../each-bounded';

/** The few KV v2 operations this store needs; `null` for a key that does not exist. */
export interface KvClient {
  /** `createdTime`: the version's `created_time`, the server's clock when it landed (ms). */
  read(key: string, version?: number): Promise<{ data: Record<string, unknown>; version: number; createdTime: number } | null>;
  /** Resolves to the new version, or 'cas_mismatch'. */
  write(key: string, data: Record<string, unknown>, cas: number): Promise<number | 'cas_mismatch'>;
  /** Child names under a folder ('x/' for sub-folders); empty when there is none. */
  list(folder: string): Promise<string[]>;
  close?(): Promise<void>;
}

export type VaultCrashPoint = 'after-intent' | 'after-designation';

export interface VaultStateStoreOptions {
  readonly kv: KvClient;
  readonly clock?: Clock;
  /** How long an appender waits for an open intent's writer before fencing it (ms). */
  readonly intentGraceMs?: number;
  /** Test seam: throwing here simulates a broker that died between two writes. */
  readonly crashPoint?: (point: VaultCrashPoint) => void;
  /** C and the skew: a designation that landed after its deadline counts its wait from the landing. */
  readonly timing: Timing;
}

interface Marker {
  readonly nonce: string;
  readonly validator: string | null;
  /** The designation's KV version the intent CASes from (null: no record change). */
  readonly from: number | null;
  /** Entries in the intent, and this one's place among them. */
  readonly count: number;
  readonly index: number;
  /** Writer's clock when written (ms): lets readers leave a fresh intent to its writer. */
  readonly time: number;
}

interface StoredEntry {
  readonly entry: LedgerEntry;
  readonly marker: Marker | null;
  readonly state: 'committed' | 'aborted' | null;
  readonly kvVersion: number;
}

/** Reads in flight for getValidators: KV v2 answers one path a request. */
const readWidth = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const abortedReason = 'intent_aborted';

/** The designation as decided; `notBefore` may have been moved later on reading (landedNotBefore), so it is compared as stored. */
const sameDesignation = (a: ValidatorRecord['designation'], b: ValidatorRecord['designation']): boolean =>
  a.epoch === b.epoch && a.slot === b.slot && a.podUid === b.podUid && a.state === b.state && a.updatedAt === b.updatedAt;

/** When a designation's record first landed: its version's created_time, or, for a fence's copy, the original's. */
const landedAtOf = (v: { data: Record<string, unknown>; createdTime: number }): number =>
  typeof v.data.landed === 'number' && Number.isSafeInteger(v.data.landed) && v.data.landed <= v.createdTime ? v.data.landed : v.createdTime;

export class VaultKvStateStore implements StateStore {
  readonly name = 'vault';
  private readonly kv: KvClient;
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly crashPoint: VaultStateStoreOptions['crashPoint'];
  private readonly timing: VaultStateStoreOptions['timing'];
  /** Entries are immutable once written: cache them (never their markers). */
  private readonly entryCache = new Map<string, LedgerEntry>();
  private readonly knownSeq = new Map<string, number>();

  constructor(opts: VaultStateStoreOptions) {
    this.kv = opts.kv;
    this.clock = opts.clock ?? systemClock;
    this.graceMs = opts.intentGraceMs ?? 1000;
    this.crashPoint = opts.crashPoint;
    this.timing = opts.timing;
  }

  // ------------------------------------------------------------ designations

  async getValidator(id: string): Promise<ValidatorRecord | null> {
    return (await this.designation(id)).record;
  }

  /** KV v2 has no batch read: one read per id, a few at a time (each is also a landing-time check, as getValidator's). */
  async getValidators(ids: readonly string[]): Promise<Map<string, ValidatorRecord>> {
    const unique = [...new Set(ids)];
    const records = await eachBounded(unique, readWidth, (id) => this.getValidator(id));
    return new Map(unique.flatMap((id, i) => (records[i] ? [[id, records[i]] as const] : [])));
  }

  private async designation(id: string): Promise<{ record: ValidatorRecord | null; version: number; data: Record<string, unknown> | null; landedAt: number | null }> {
    const got = await this.kv.read(`validators/${id}`);
    if (!got) return { record: null, version: 0, data: null, landedAt: null };
    const raw = got.data.record;
    // A fence written over a create leaves `record: null`: still no validator.
    const stored = raw === null ? null : parseRecord(raw);
    if (stored && stored.id !== id) throw new StoreError(this.name, 'a stored validator record names another validator');
    // KV v2 does not refuse a late write (a broker frozen after deciding can
    // still CAS minutes later), but it records when the write landed: a wait
    // is counted from that, so a late landing never shortens it.
    const landedAt = landedAtOf(got);
    const record = stored && this.landed(stored, landedAt);
    return { record, version: got.version, data: got.data, landedAt };
  }

  private landed(r: ValidatorRecord, landedAt: number): ValidatorRecord {
    const notBefore = landedNotBefore(this.timing, r.designation, landedAt);
    return notBefore === r.designation.notBefore ? r : { ...r, designation: { ...r.designation, notBefore } };
  }

  async keyOwner(key: string): Promise<string | null> {
    const got = await this.kv.read(`keys/${key}`);
    if (!got) return null;
    if (typeof got.data.validator !== 'string') throw new StoreError(this.name, 'a stored key index entry is malformed');
    return got.data.validator;
  }

  /** Bind `key` to `validator` unless it is bound already (create-only, so two claimants can never both win). */
  private async claim(key: string, validator: string): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const owner = await this.keyOwner(key);
      if (owner === validator) return;
      if (owner !== null) throw new KeyInUseError(this.name, key, owner);
      if ((await this.kv.write(`keys/${key}`, { validator }, 0)) !== 'cas_mismatch') return;
    }
    throw new StoreUnavailableError(this.name, 'key index contention');
  }

  async listValidators(): Promise<ValidatorRecord[]> {
    const ids = (await this.kv.list('validators/')).filter((k) => !k.endsWith('/')).sort();
    const records = await Promise.all(ids.map((id) => this.getValidator(id)));
    return records.filter((r): r is ValidatorRecord => r !== null);
  }

  // ------------------------------------------------------------------ commit

  async commit(commit: Commit): Promise<LedgerEntry[]> {
    for (const d of commit.entries) checkChainName(d.chain);
    const change = commit.record;
    if (change && (commit.entries.length === 0 || commit.entries.some((d) => d.chain !== change.next.id))) {
      // The reconciliation argument needs every designation change on its own chain (see the top of this file).
      throw new TypeError('a designation change must be ledgered on its own validator chain, and only there');
    }
    if (!change && commit.entries.length === 1) return [await this.appendFinal(commit.entries[0]!, commit)];
    if (!change && commit.entries.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      // No attempt, first or retried, starts after the send deadline.
      checkSendable(this.name, commit);
      const out = await this.tryIntent(commit);
      if (out) return out;
      if (attempt >= 20) throw new StoreUnavailableError(this.name, 'chain append contention');
      await sleep(Math.random() * Math.min(100, 5 * 2 ** attempt));
    }
  }

  /** One entry and no record: a plain create-only append, retried on a lost position. */
  private async appendFinal(d: LedgerDraft, commit: Commit): Promise<LedgerEntry> {
    for (let attempt = 1; ; attempt++) {
      const head = await this.resolvedHead(d.chain, true);
      const e = sealEntry(d, head);
      checkSendable(this.name, commit);
      if ((await this.kv.write(this.entryKey(e.chain, e.seq), { entry: encodeEntry(e) }, 0)) !== 'cas_mismatch') {
        this.learned(e);
        await this.updateHint(e.chain, e).catch(() => undefined);
        return e;
      }
      if (attempt >= 40) throw new StoreUnavailableError(this.name, 'chain append contention');
      await sleep(Math.random() * Math.min(100, 5 * 2 ** Math.min(attempt, 5)));
    }
  }

  /** One attempt at an intent; null when it lost a chain position or was fenced and the caller should try again. */
  private async tryIntent(commit: Commit): Promise<LedgerEntry[] | null> {
    const change = commit.record;
    const nonce = randomUUID();
    // Tail first: an open intent on this chain may be about to move the
    // designation, and deciding from the version before it would only write
    // an intent doomed to abort.
    const heads = new Map<string, ChainHead | null>();
    for (const c of new Set(commit.entries.map((d) => d.chain))) heads.set(c, await this.resolvedHead(c, true));
    let from: number | null = null;
    // A change that keeps the designation as it is (a re-issue, a re-import)
    // keeps its landing time too: only a new designation starts a new wait.
    let landed: { landed: number } | Record<string, never> = {};
    if (change) {
      const current = await this.designation(change.next.id);
      const ok = change.expectedVersion === null ? current.record === null : current.record?.version === change.expectedVersion;
      if (!ok) throw new StateConflictError(this.name, change.next.id);
      from = current.version;
      if (current.record && current.landedAt !== null && sameDesignation(current.record.designation, change.next.designation)) landed = { landed: current.landedAt };
      if (commit.claimKey !== undefined) await this.claim(commit.claimKey, change.next.id);
    }
    const written: LedgerEntry[] = [];
    const markers: Marker[] = [];
    const time = this.clock.now();
    for (const [index, d] of commit.entries.entries()) {
      const e = sealEntry(d, heads.get(d.chain) ?? null);
      const marker: Marker = { nonce, validator: change?.next.id ?? null, from, count: commit.entries.length, index, time };
      // An intent cut short here is left to the resolvers, as a dead broker's would be.
      checkSendable(this.name, commit);
      if ((await this.kv.write(this.entryKey(e.chain, e.seq), { entry: encodeEntry(e), intent: marker }, 0)) === 'cas_mismatch') {
        // Another broker took this position (after waiting out and fencing
        // ours, if we had written some): abandon; what we wrote resolves as aborted.
        if (written.length > 0) await this.resolveTail(d.chain, { patient: false, force: true });
        return null;
      }
      written.push(e);
      markers.push(marker);
      heads.set(e.chain, { chain: e.chain, seq: e.seq, hash: e.hash });
      this.learned(e);
    }
    this.crashPoint?.('after-intent');
    if (change && from !== null) {
      checkSendable(this.name, commit);
      const moved = await this.kv.write(`validators/${change.next.id}`, { record: JSON.stringify(change.next), intent: nonce, ...landed }, from);
      if (moved === 'cas_mismatch') {
        // Fenced by a resolver, or beaten by another writer: our intent is
        // aborted, and gets its abort entry now. The record itself may be
        // unchanged (a fence keeps it): then the same decision is tried again.
        await this.resolveTail(change.next.id, { patient: false, force: true });
        const now = await this.designation(change.next.id);
        const unchanged = change.expectedVersion === null ? now.record === null : now.record?.version === change.expectedVersion;
        if (!unchanged) throw new StateConflictError(this.name, change.next.id);
        return null;
      }
    }
    this.crashPoint?.('after-designation');
    await Promise.all(
      written.map((e, i) => this.kv.write(this.entryKey(e.chain, e.seq), { entry: encodeEntry(e), intent: markers[i], state: 'committed' }, 1).catch(() => undefined)),
    );
    await Promise.all([...heads.values()].map((h) => (h ? this.updateHint(h.chain, h).catch(() => undefined) : undefined)));
    return written;
  }

  // --------------------------------------------------------- chain tails

  private entryKey(chain: string, seq: number): string {
    return `chains/${chain}/${padSeq(seq)}`;
  }

  private learned(e: LedgerEntry): void {
    this.entryCache.set(`${e.chain}/${e.seq}`, e);
    if ((this.knownSeq.get(e.chain) ?? 0) < e.seq) this.knownSeq.set(e.chain, e.seq);
  }

  private async readStored(chain: string, seq: number): Promise<StoredEntry | null> {
    const got = await this.kv.read(this.entryKey(chain, seq));
    if (!got) return null;
    const entry = parseEntry(this.name, got.data.entry);
    if (entry.chain !== chain || entry.seq !== seq) throw new StoreError(this.name, 'a stored ledger entry sits at another position');
    const m = got.data.intent as Partial<Marker> | undefined;
    const marker =
      m && typeof m.nonce === 'string' && typeof m.count === 'number' && typeof m.index === 'number' && typeof m.time === 'number'
        ? { nonce: m.nonce, validator: typeof m.validator === 'string' ? m.validator : null, from: typeof m.from === 'number' ? m.from : null, count: m.count, index: m.index, time: m.time }
        : null;
    const state = got.data.state === 'committed' || got.data.state === 'aborted' ? got.data.state : null;
    this.learned(entry);
    return { entry, marker, state, kvVersion: got.version };
  }

  /** The last seq present: from what this instance knows or the hint, probing forward past it. */
  private async lastSeq(chain: string): Promise<number> {
    let seq = this.knownSeq.get(chain) ?? 0;
    if (seq === 0) {
      const hint = await this.kv.read(`heads/${chain}`);
      const s = hint?.data.seq;
      if (typeof s === 'number' && Number.isSafeInteger(s) && s > 0) seq = s;
    }
    // A hint can be ahead of the truth only if the store was tampered with: walk back to an entry that exists.
    while (seq > 0 && !(await this.kv.read(this.entryKey(chain, seq)))) seq -= 1;
    for (;;) {
      if (!(await this.kv.read(this.entryKey(chain, seq + 1)))) break;
      seq += 1;
    }
    if ((this.knownSeq.get(chain) ?? 0) < seq) this.knownSeq.set(chain, seq);
    return seq;
  }

  /**
   * The chain's head once its tail holds no open intent. Patient (appenders):
   * wait up to the grace period for a live writer, then fence. Impatient
   * (readers): resolve only intents older than the grace period.
   */
  private async resolvedHead(chain: string, patient: boolean): Promise<ChainHead | null> {
    return this.resolveTail(chain, { patient, force: false });
  }

  private async resolveTail(chain: string, opts: { patient: boolean; force: boolean }): Promise<ChainHead | null> {
    const started = this.clock.now();
    for (let round = 0; ; round++) {
      const last = await this.lastSeq(chain);
      if (last === 0) return null;
      const tail = await this.readStored(chain, last);
      if (!tail) continue;
      const head = { chain, seq: last, hash: tail.entry.hash };
      if (!tail.marker || tail.state !== null) return head;
      const outcome = await this.outcome(chain, last, tail.marker, opts.force || (opts.patient ? this.clock.now() - started >= this.graceMs : this.clock.now() - tail.marker.time >= this.graceMs));
      if (outcome === 'committed') {
        await this.kv.write(this.entryKey(chain, last), { entry: encodeEntry(tail.entry), intent: tail.marker, state: 'committed' }, tail.kvVersion).catch(() => undefined);
        return head;
      }
      if (outcome === 'aborted') {
        await this.recordAbort(chain, last, tail);
        continue;
      }
      // Still open and not ours to fence yet.
      if (!opts.patient) return head;
      await sleep(Math.min(50, 5 + round * 5));
    }
  }

  /** Committed, aborted, or open (`fence` false and no outcome yet). */
  private async outcome(chain: string, seq: number, m: Marker, fence: boolean): Promise<'committed' | 'aborted' | 'open'> {
    if (m.validator !== null && m.from !== null) {
      for (;;) {
        const next = await this.kv.read(`validators/${m.validator}`, m.from + 1);
        if (next) return next.data.intent === m.nonce ? 'committed' : 'aborted';
        if (!fence) return 'open';
        const current = await this.kv.read(`validators/${m.validator}`);
        if ((current?.version ?? 0) !== m.from) continue;
        // The fence copies the record, and with it when that record landed: a copy is not a late landing.
        const landed = current ? landedAtOf(current) : null;
        const fenced = await this.kv.write(`validators/${m.validator}`, { record: current?.data.record ?? null, intent: `fence:${m.nonce}`, ...(landed === null ? {} : { landed }) }, m.from);
        if (fenced !== 'cas_mismatch') return 'aborted';
      }
    }
    // No record change: complete when all its entries are present.
    const first = seq - m.index;
    let present = 0;
    for (let i = 0; i < m.count; i++) {
      const e = i === m.index ? true : await this.readStored(chain, first + i).then((s) => s?.marker?.nonce === m.nonce);
      if (e) present += 1;
    }
    if (present === m.count) return 'committed';
    // The abort entry takes the next position with cas 0: that is the fence.
    return fence ? 'aborted' : 'open';
  }

  /** Append, right after an aborted intent's last entry, the entry that says so. */
  private async recordAbort(chain: string, last: number, tail: StoredEntry): Promise<void> {
    const m = tail.marker!;
    const firstSeq = Math.max(1, last - m.index);
    const e = sealEntry(
      {
        chain,
        time: this.clock.now(),
        actor: 'store:vault',
        action: 'denied',
        validator: tail.entry.validator,
        epoch: null,
        slot: null,
        reason: abortedReason,
        details: { intent: m.nonce, fromSeq: firstSeq, toSeq: last },
      },
      { chain, seq: last, hash: tail.entry.hash },
    );
    // A lost cas means someone else wrote here first (the abort, or the writer's next entry): the caller looks again.
    if ((await this.kv.write(this.entryKey(chain, e.seq), { entry: encodeEntry(e) }, 0)) !== 'cas_mismatch') this.learned(e);
    await this.kv.write(this.entryKey(chain, last), { entry: encodeEntry(tail.entry), intent: m, state: 'aborted' }, tail.kvVersion).catch(() => undefined);
  }

  // ------------------------------------------------------------------ ledger reads

  async readChain(chain: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    checkChainName(chain);
    const head = await this.resolvedHead(chain, false);
    await this.updateHint(chain, head);
    const last = Math.min(head?.seq ?? 0, Math.max(1, fromSeq) + limit - 1);
    const seqs: number[] = [];
    for (let s = Math.max(1, fromSeq); s <= last; s++) seqs.push(s);
    return Promise.all(
      seqs.map(async (s) => {
        const cached = this.entryCache.get(`${chain}/${s}`);
        if (cached) return cached;
        const got = await this.readStored(chain, s);
        if (!got) throw new StoreError(this.name, `ledger entry ${chain}/${s} is missing`);
        return got.entry;
      }),
    );
  }

  private async updateHint(chain: string, head: ChainHead | null): Promise<void> {
    if (!head) return;
    const hint = await this.kv.read(`heads/${chain}`);
    const seq = hint?.data.seq;
    if (typeof seq === 'number' && seq >= head.seq) return;
    await this.kv.write(`heads/${chain}`, { seq: head.seq }, hint?.version ?? 0).catch(() => undefined);
  }

  private async chains(): Promise<string[]> {
    return (await this.kv.list('chains/')).filter((k) => k.endsWith('/')).map((k) => k.slice(0, -1)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async chainHeads(): Promise<ChainHead[]> {
    const heads = await Promise.all((await this.chains()).map((c) => this.resolvedHead(c, false)));
    return heads.filter((h): h is ChainHead => h !== null);
  }

  async queryLedger(q: LedgerQuery): Promise<LedgerPage> {
    const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const chains = q.chain !== undefined ? [q.chain] : await this.chains();
    const all = (await Promise.all(chains.filter((c) => /^[A-Za-z0-9._-]{1,64}$/.test(c)).map((c) => this.readChain(c, 1, Number.MAX_SAFE_INTEGER)))).flat();
    const matching = all.filter((e) => matchesQuery(e, q) && (!cursor || compareEntries(e, cursor) > 0)).sort(compareEntries);
    const entries = matching.slice(0, q.limit);
    const last = entries.at(-1);
    return { entries, cursor: matching.length > q.limit && last ? encodeCursor(last) : null };
  }

  // ------------------------------------------------------------- checkpoints

  async putCheckpoint(c: StoredCheckpoint): Promise<boolean> {
    // cas 0 creates only: two brokers can never both write one position of the checkpoint chain.
    return (await this.kv.write(`checkpoints/${padSeq(c.seq)}`, { body: encodeCheckpoint(c) }, 0)) !== 'cas_mismatch';
  }

  /** Seqs in order, from the listing: a removed checkpoint shows as a gap to verify, not as the end of the chain. */
  private async checkpointSeqs(): Promise<number[]> {
    return (await this.kv.list('checkpoints/'))
      .filter((k) => /^\d{12}$/.test(k))
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async readCheckpoint(seq: number): Promise<StoredCheckpoint | null> {
    const got = await this.kv.read(`checkpoints/${padSeq(seq)}`);
    return got ? decodeCheckpoint(this.name, got.data.body) : null;
  }

  async useTokenOnce(id: string, expiresAt: number, now: number, attempt: string): Promise<boolean> {
    checkTokenId(id, expiresAt, now, attempt);
    const key = `used-tokens/${id}`;
    if ((await this.kv.write(key, { expiresAt, attempt }, 0)) !== 'cas_mismatch') return true;
    const got = await this.kv.read(key);
    if (got?.data.attempt === attempt) return true;
    // Gone between the two calls cannot happen (nothing deletes these); an unreadable time counts as unexpired.
    if (!got || typeof got.data.expiresAt !== 'number' || got.data.expiresAt > now) return false;
    return (await this.kv.write(key, { expiresAt, attempt }, got.version)) !== 'cas_mismatch';
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const last = (await this.checkpointSeqs()).at(-1);
    return last === undefined ? null : this.readCheckpoint(last);
  }

  async listCheckpoints(fromSeq: number, limit: number): Promise<StoredCheckpoint[]> {
    const seqs = (await this.checkpointSeqs()).filter((s) => s >= fromSeq).slice(0, Math.max(0, limit));
    const read = await Promise.all(seqs.map((s) => this.readCheckpoint(s)));
    return read.filter((c): c is StoredCheckpoint => c !== null);
  }

  async health(): Promise<Health> {
    try {
      await this.kv.read('heads/_health');
      return { state: 'ready' };
    } catch {
      return { state: 'error', detail: 'vault read failed' };
    }
  }

  async close(): Promise<void> {
    await this.kv.close?.();
  }
}
