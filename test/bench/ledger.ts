// The ledger on embedded SQLite: durable appends, and what `keyhold audit
// verify` and `keyhold audit query` cost once the ledger is large. The large
// ledger is built fast (sealed with the real sealAll, bulk-inserted in one
// transaction through rawDatabase) but read back through the store's own
// queries and verified by the real OperationsService.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DesignationReader } from '../../src/broker/designation-reader';
import { Checkpointer } from '../../src/broker/checkpointer';
import { defaultSchedule } from '../../src/core/checkpoints';
import { OperationsService } from '../../src/broker/operations';
import { fingerprint } from '../../src/core/key-material';
import { sealAll, type LedgerDraft } from '../../src/core/ledger';
import { systemClock } from '../../src/ports';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { testSigner, testTiming } from '../support/fixtures';
import { percentile, progress, round } from './report';

const grantDraft = (validator: string, time: number, podUid: string, fp: string): LedgerDraft => ({
  chain: validator,
  time,
  actor: `pod:${podUid}`,
  action: 'grant_reissued',
  validator,
  epoch: 3,
  slot: `local/validators/${validator}-0`,
  reason: null,
  details: { jti: randomUUID(), exp: Math.floor(time / 1000) + 120, keyStore: 'sqlite', keyVersion: '1', keyFingerprint: fp },
});

/** Durable appends: one decision, one entry, one SQLite transaction with synchronous=FULL, as the broker commits. */
export async function ledgerAppend(seconds: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-bench-ledger-'));
  const store = new SqliteStateStore(join(dir, 'state.db'));
  try {
    const validators = Array.from({ length: 100 }, (_, i) => ({ id: `append-v${i}`, pod: randomUUID(), fp: fingerprint(`0x${i}`) }));
    let n = 0;
    const once = async () => {
      const v = validators[n % validators.length]!;
      await store.commit({ entries: [grantDraft(v.id, Date.now(), v.pod, v.fp)] });
      n += 1;
    };
    for (let i = 0; i < 50; i++) await once();
    n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) await once();
    const rate = n / ((performance.now() - start) / 1000);
    progress(`ledger_append_per_s: ${rate.toFixed(0)}`);
    return round(rate, 0);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export interface LargeLedgerFigures {
  readonly verifyPerSecond: number | null;
  readonly auditP99Ms: number | null;
}

/**
 * `chains` validator chains of `perChain` entries each, interleaved in time as
 * a fleet's decisions would be. Indexes are dropped for the insert and
 * recreated from their own stored definitions, so the schema stays the store's.
 */
async function buildLedger(store: SqliteStateStore, chains: number, perChain: number): Promise<void> {
  const db = store.rawDatabase();
  const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger' AND sql IS NOT NULL").all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`DROP INDEX ${ix.name}`);
  db.pragma('synchronous = OFF');
  const insert = db.prepare(
    `INSERT INTO ledger (chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash)
     VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prevHash, @hash)`,
  );
  const t0 = Date.UTC(2026, 0, 1);
  const started = performance.now();
  db.transaction(() => {
    for (let c = 0; c < chains; c++) {
      const id = `audit-v${c}`;
      const pod = randomUUID();
      const fp = fingerprint(`0x${c}`);
      const drafts = Array.from({ length: perChain }, (_, k) => grantDraft(id, t0 + (k * chains + c) * 40, pod, fp));
      for (const e of sealAll(drafts, new Map([[id, null]]))) insert.run({ ...e, details: JSON.stringify(e.details) });
      if ((c + 1) % Math.max(1, Math.floor(chains / 10)) === 0) progress(`  ledger build: ${((c + 1) * perChain).toLocaleString('en')} entries`);
    }
  })();
  for (const ix of indexes) db.exec(ix.sql);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('synchronous = FULL');
  progress(`  ledger build: ${(chains * perChain).toLocaleString('en')} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** `keyhold audit verify` (OperationsService.verify over every chain, then the signed checkpoint) and per-validator audit queries. */
export async function largeLedger(opts: { chains: number; perChain: number; queries: number; verify: boolean; audit: boolean }): Promise<LargeLedgerFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-bench-ledger-'));
  const store = new SqliteStateStore(join(dir, 'state.db'));
  try {
    const total = opts.chains * opts.perChain;
    progress(`building a ledger of ${total.toLocaleString('en')} entries over ${opts.chains} chains`);
    await buildLedger(store, opts.chains, opts.perChain);
    const signer = await testSigner();
    const operations = new OperationsService({
      state: store,
      designations: new DesignationReader(store, systemClock, testTiming),
      keyStores: [],
      signer,
      clock: systemClock,
      timing: testTiming,
      checkpointer: new Checkpointer({ state: store, signer, clock: systemClock, schedule: defaultSchedule }),
    });
    // A signed checkpoint over every head, so verify does all of its work.
    await operations.checkpoint();

    let verifyPerSecond: number | null = null;
    if (opts.verify) {
      progress('audit verify over the whole ledger');
      const start = performance.now();
      const report = await operations.verify();
      const s = (performance.now() - start) / 1000;
      if (!report.ok || report.entries !== total || report.checkpoint?.verified !== true) {
        throw new Error(`audit verify did not verify the bench ledger: ${JSON.stringify(report)}`);
      }
      verifyPerSecond = round(total / s, 0);
      progress(`ledger_verify_per_s: ${verifyPerSecond} (${s.toFixed(2)} s for ${total.toLocaleString('en')} entries)`);
    }

    let auditP99Ms: number | null = null;
    if (opts.audit) {
      const times: number[] = [];
      for (let i = 0; i < opts.queries; i++) {
        // Spread over the chains, so the queries do not hit one warm range.
        const validator = `audit-v${(i * 7919) % opts.chains}`;
        const start = performance.now();
        const page = await operations.query({ validator, limit: 100 });
        times.push(performance.now() - start);
        if (page.entries.length !== Math.min(100, opts.perChain)) throw new Error(`audit query for ${validator} returned ${page.entries.length} entries`);
      }
      times.sort((a, b) => a - b);
      auditP99Ms = round(percentile(times, 99), 2);
      progress(`audit_query_p99_ms: ${auditP99Ms} (p50 ${percentile(times, 50).toFixed(2)} ms over ${opts.queries} validators)`);
    }
    return { verifyPerSecond, auditP99Ms };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
