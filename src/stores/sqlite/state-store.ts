// Embedded SQLite state + ledger store: the single-machine default. One
// SQLite transaction covers the designation CAS and its ledger appends, so a
// decision and its record commit together or not at all.

import Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import type { ValidatorRecord } from '../../core/designation';
import type { ChainHead, LedgerEntry } from '../../core/ledger';
import {
  checkTokenId,
  checkSendable,
  StoreUnavailableError,
  type Commit,
  type ChainsVerification,
  type Health,
  type LedgerPage,
  type LedgerQuery,
  type StateStore,
  type StoredCheckpoint,
} from '../../ports';
import { podDetailFields } from '../../core/pseudonyms';
import { decodeCheckpoint, encodeCheckpoint } from '../ledger-codec';
import { decodeCursor, encodeCursor } from '../ledger-cursor';
import { parseRecord } from '../record-codec';
import { fromRawRow, ledgerColumns } from './ledger-rows';
import { verifyChainsInWorkers } from './parallel-verify';
import { databaseHealth, openDurable } from './database';
import { batchCommitter, fromWire, wallNow, type Applicable, type Outcome } from './commit-apply';
import type { CommitReply, CommitTask } from './commit-worker';

/**
 * A commit with less of its send window left than this is applied on the
 * deciding thread, synchronously, rather than handed over: the hand-over
 * itself could use up what is left.
 */
const workerMinBudgetMs = 100;
const budgetOf = (c: Commit): number => (c.deadline ? c.deadline.sendBy - c.deadline.clock.now() : Infinity);

interface Pending {
  readonly commit: Commit;
  readonly resolve: (e: LedgerEntry[]) => void;
  readonly reject: (e: unknown) => void;
}

const schema = `
CREATE TABLE IF NOT EXISTS validators (
  id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  record TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS ledger (
  chain TEXT NOT NULL,
  seq INTEGER NOT NULL,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  validator TEXT,
  epoch INTEGER,
  slot TEXT,
  reason TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (chain, seq)
) STRICT;
CREATE INDEX IF NOT EXISTS ledger_by_time ON ledger (time, chain, seq);
CREATE INDEX IF NOT EXISTS ledger_by_validator ON ledger (validator, time, chain, seq);
CREATE TABLE IF NOT EXISTS key_owners (
  key TEXT PRIMARY KEY,
  validator TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS used_tokens (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  attempt TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS used_tokens_by_expiry ON used_tokens (expires_at);
CREATE TABLE IF NOT EXISTS checkpoint_chain (
  seq INTEGER PRIMARY KEY,
  body TEXT NOT NULL
) STRICT;
`;

export class SqliteStateStore implements StateStore {
  readonly name = 'sqlite';
  private readonly db: Database.Database;

  /**
   * `path` ':memory:' for tests. `parallelVerifyFrom`: ledgers with at least
   * this many entries are verified on several cores (a file database only).
   */
  /**
   * `commitWorker` (a file database only; default on): commits are applied
   * by a worker thread on its own connection, so the durable sync does not
   * stop this thread's event loop. Without it (or if the worker cannot
   * start), they are applied on this thread.
   */
  constructor(
    private readonly path: string,
    private readonly opts: { parallelVerifyFrom?: number; commitWorker?: boolean } = {},
  ) {
    this.db = openDurable(path);
    this.db.exec(schema);
    this.stmt = {
      head: this.db.prepare('SELECT seq, hash FROM ledger WHERE chain = ? ORDER BY seq DESC LIMIT 1'),
      getRecord: this.db.prepare('SELECT record FROM validators WHERE id = ?'),
      // One bound parameter whatever the count: the ids as a JSON array, so no chunking under SQLite's variable limit.
      getRecords: this.db.prepare('SELECT id, record FROM validators WHERE id IN (SELECT value FROM json_each(?))'),
      keyOwner: this.db.prepare('SELECT validator FROM key_owners WHERE key = ?'),
      readChain: this.db
        .prepare(`SELECT ${ledgerColumns.join(', ')} FROM ledger WHERE chain = ? AND seq >= ? ORDER BY seq LIMIT ?`)
        .raw(true),
    };
    this.applyHere = batchCommitter(this.db, this.name);
    if (path !== ':memory:' && opts.commitWorker !== false) this.worker = this.startWorker();
  }

  private readonly stmt: Record<'head' | 'getRecord' | 'getRecords' | 'readChain' | 'keyOwner', Database.Statement>;

  async getValidator(id: string): Promise<ValidatorRecord | null> {
    const row = this.stmt.getRecord.get(id) as { record: string } | undefined;
    return row ? parseRecord(row.record) : null;
  }

  async getValidators(ids: readonly string[]): Promise<Map<string, ValidatorRecord>> {
    const rows = this.stmt.getRecords.all(JSON.stringify([...new Set(ids)])) as { id: string; record: string }[];
    return new Map(rows.map((r) => [r.id, parseRecord(r.record)]));
  }

  async listValidators(): Promise<ValidatorRecord[]> {
    const rows = this.db.prepare('SELECT record FROM validators ORDER BY id').all() as { record: string }[];
    return rows.map((r) => parseRecord(r.record));
  }

  async keyOwner(key: string): Promise<string | null> {
    return (this.stmt.keyOwner.get(key) as { validator: string } | undefined)?.validator ?? null;
  }

  /**
   * Group commit: the commits that arrive in one tick share one durable
   * COMMIT (synchronous=FULL costs one sync per transaction, and that sync,
   * not the work, bounded decisions per second). Each commit runs in its own
   * savepoint, so a lost compare-and-swap rolls back only that commit; every
   * promise settles only after the shared COMMIT has returned, so nothing is
   * answered before it is durable.
   */
  commit(commit: Commit): Promise<LedgerEntry[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ commit, resolve, reject });
      if (this.pending.length === 1 && !this.inFlight) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.inFlight) return;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    if (this.worker && this.workerReady && batch.every((b) => budgetOf(b.commit) >= workerMinBudgetMs)) return this.flushToWorker(this.worker, batch);
    this.applyOnThisThread(batch);
  }

  private applyOnThisThread(batch: Pending[]): void {
    let outcomes: Outcome[];
    try {
      outcomes = this.applyHere(batch.map((b) => ({ commit: b.commit, sendable: () => checkSendable(this.name, b.commit) })));
    } catch (e) {
      const mapped = e instanceof Database.SqliteError && (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_IOERR') ? new StoreUnavailableError(this.name, e.code, { cause: e }) : e;
      for (const b of batch) b.reject(mapped);
      return;
    }
    batch.forEach((b, i) => {
      const o = outcomes[i]!;
      if ('ok' in o) b.resolve(o.ok);
      else b.reject(o.err);
    });
  }

  /** One batch in the worker at a time; what arrives meanwhile is the next batch. */
  private flushToWorker(worker: Worker, batch: Pending[]): void {
    const sendable: Pending[] = [];
    for (const b of batch) {
      // An aborted or late commit is not sent at all; once posted it lands or is refused by the worker's own deadline check.
      try {
        checkSendable(this.name, b.commit);
        sendable.push(b);
      } catch (e) {
        b.reject(e);
      }
    }
    if (sendable.length === 0) return;
    const id = ++this.taskId;
    const task: CommitTask = {
      id,
      handedAt: wallNow(),
      batch: sendable.map(({ commit: c }) => ({
        commit: { entries: c.entries, ...(c.record ? { record: c.record } : {}), ...(c.claimKey !== undefined ? { claimKey: c.claimKey } : {}) },
        budgetMs: c.deadline ? budgetOf(c) : null,
      })),
    };
    this.inFlight = { id, batch: sendable };
    worker.postMessage(task);
  }

  private onReply(reply: CommitReply): void {
    if ('ready' in reply) {
      this.workerReady = true;
      return;
    }
    const flight = this.inFlight;
    if (!flight || flight.id !== reply.id) return;
    this.inFlight = null;
    if ('failed' in reply) {
      const e = fromWire(this.name, reply.failed);
      for (const b of flight.batch) b.reject(e);
    } else {
      flight.batch.forEach((b, i) => {
        const o = reply.outcomes[i]!;
        if ('ok' in o) b.resolve(o.ok as LedgerEntry[]);
        else b.reject(fromWire(this.name, o.err));
      });
    }
    this.flush();
  }

  private startWorker(): Worker | null {
    try {
      const w = new Worker(new URL('./commit-worker.mjs', import.meta.url), { workerData: { path: this.path, name: this.name } });
      w.on('message', (m: CommitReply) => this.onReply(m));
      const lost = () => {
        // Whatever was in flight may or may not have landed: unknown, as a lost store answer is.
        if (this.worker !== w) return;
        this.worker = null;
        const flight = this.inFlight;
        this.inFlight = null;
        for (const b of flight?.batch ?? []) b.reject(new StoreUnavailableError(this.name, 'commit worker stopped'));
        this.flush();
      };
      w.on('error', lost);
      w.on('exit', lost);
      w.unref();
      return w;
    } catch {
      return null;
    }
  }

  /** Whether commits now go to the worker thread (tests, start-up checks). */
  get committingInWorker(): boolean {
    return this.worker !== null && this.workerReady;
  }

  private worker: Worker | null = null;
  /** Until the worker has loaded, commits are applied here: a first commit must not wait out its start. */
  private workerReady = false;
  private inFlight: { id: number; batch: Pending[] } | null = null;
  private taskId = 0;
  private readonly pending: Pending[] = [];
  private readonly applyHere: (batch: readonly Applicable[]) => Outcome[];

  private head(chain: string): ChainHead | null {
    const row = this.stmt.head.get(chain) as
      | { seq: number; hash: string }
      | undefined;
    return row ? { chain, seq: row.seq, hash: row.hash } : null;
  }

  async queryLedger(q: LedgerQuery): Promise<LedgerPage> {
    const where: string[] = [];
    const args: Record<string, string | number> = { limit: q.limit + 1 };
    const filters: [keyof LedgerQuery, string][] = [
      ['validator', 'validator = @validator'],
      ['chain', 'chain = @chain'],
      ['slot', 'slot = @slot'],
      ['action', 'action = @action'],
      ['actor', 'actor = @actor'],
      ['epoch', 'epoch = @epoch'],
      ['pod', `(actor = 'pod:' || @pod OR ${podDetailFields.map((k) => `json_extract(details, '$.${k}') = @pod`).join(' OR ')})`],
      ['since', 'time >= @since'],
      ['until', 'time < @until'],
    ];
    for (const [field, clause] of filters) {
      const value = q[field];
      if (value === undefined || field === 'cursor' || field === 'limit') continue;
      where.push(clause);
      args[field] = value;
    }
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      where.push('(time, chain, seq) > (@ct, @cc, @cs)');
      Object.assign(args, { ct: c.time, cc: c.chain, cs: c.seq });
    }
    const sql = `SELECT ${ledgerColumns.join(', ')} FROM ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time, chain, seq LIMIT @limit`;
    const rows = this.db.prepare(sql).raw(true).all(args) as unknown[][];
    const more = rows.length > q.limit;
    const entries = rows.slice(0, q.limit).map(fromRawRow);
    const last = entries.at(-1);
    return { entries, cursor: more && last ? encodeCursor(last) : null };
  }

  async readChain(chain: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    // Rows as arrays: verify reads every entry, and keyed rows cost a third more.
    const rows = this.stmt.readChain.all(chain, fromSeq, limit) as unknown[][];
    return rows.map(fromRawRow);
  }

  /** ChainVerifyingStore: verify in worker threads, each reading the file itself; null where that cannot help. */
  async verifyChains(chains: readonly string[], hashAt: ReadonlyMap<string, number>): Promise<ChainsVerification | null> {
    if (this.path === ':memory:' || this.path === '') return null;
    const heads = await this.chainHeads();
    const total = heads.reduce((n, h) => n + h.seq, 0);
    if (total < (this.opts.parallelVerifyFrom ?? 100_000)) return null;
    const weight = new Map(heads.map((h) => [h.chain, h.seq]));
    return verifyChainsInWorkers(this.path, chains.map((c) => ({ chain: c, weight: weight.get(c) ?? 0 })), hashAt);
  }

  async chainHeads(): Promise<ChainHead[]> {
    const rows = this.db
      // SQLite takes the bare column (hash) from the row that holds the MAX.
      .prepare('SELECT chain, MAX(seq) AS seq, hash FROM ledger GROUP BY chain ORDER BY chain')
      .all() as ChainHead[];
    return rows.map((r) => ({ chain: r.chain, seq: r.seq, hash: r.hash }));
  }

  async putCheckpoint(c: StoredCheckpoint): Promise<boolean> {
    return this.db.prepare('INSERT INTO checkpoint_chain (seq, body) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING').run(c.seq, encodeCheckpoint(c)).changes === 1;
  }

  async useTokenOnce(id: string, expiresAt: number, now: number, attempt: string): Promise<boolean> {
    checkTokenId(id, expiresAt, now, attempt);
    // One statement, so two processes on one file cannot both win: an
    // existing row is taken over only when it has expired, or kept when it is this attempt's own.
    const won =
      this.db
        .prepare(
          `INSERT INTO used_tokens (id, expires_at, attempt) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, attempt = excluded.attempt
           WHERE used_tokens.expires_at <= ? OR used_tokens.attempt = excluded.attempt`,
        )
        .run(id, expiresAt, attempt, now).changes === 1;
    if (won && ++this.tokensSincePrune >= 256) {
      this.tokensSincePrune = 0;
      this.db.prepare('DELETE FROM used_tokens WHERE expires_at <= ?').run(now);
    }
    return won;
  }

  private tokensSincePrune = 0;

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const row = this.db.prepare('SELECT body FROM checkpoint_chain ORDER BY seq DESC LIMIT 1').get() as { body: string } | undefined;
    return row ? decodeCheckpoint(this.name, row.body) : null;
  }

  async listCheckpoints(fromSeq: number, limit: number): Promise<StoredCheckpoint[]> {
    const rows = this.db.prepare('SELECT body FROM checkpoint_chain WHERE seq >= ? ORDER BY seq LIMIT ?').all(fromSeq, limit) as { body: string }[];
    return rows.map((r) => decodeCheckpoint(this.name, r.body));
  }

  async health(): Promise<Health> {
    return databaseHealth(this.db);
  }

  async close(): Promise<void> {
    // Commits already handed over land (or are refused) before the worker goes.
    while (this.inFlight || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
    if (this.db.open) this.db.close();
  }

  /** For tests of tamper detection: direct access to the rows, as an attacker with the file would have. */
  rawDatabase(): Database.Database {
    return this.db;
  }
}
