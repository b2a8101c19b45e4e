// What an attacker with write access to a state store (but not the broker's
// signing key) can do to its ledger, through each store's own client and
// records, bypassing the adapter: overwrite a chain (with hashes recomputed,
// so it verifies on its own), cut it short, delete checkpoints.

import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Firestore } from '@google-cloud/firestore';
import type { LedgerEntry } from '../../src/core/ledger';
import { encodeEntry, padSeq } from '../../src/stores/ledger-codec';
import type { SqliteStateStore } from '../../src/stores/sqlite/state-store';

export interface RawLedger {
  /** Make `chain` hold exactly `entries` (seq 1..n), its head included; `was` is how long it was. */
  writeChain(chain: string, entries: readonly LedgerEntry[], was: number): Promise<void>;
  deleteCheckpoints(seqs: readonly number[]): Promise<void>;
}

export function rawSqlite(store: SqliteStateStore): RawLedger {
  const db = store.rawDatabase();
  return {
    async writeChain(chain, entries) {
      db.prepare('DELETE FROM ledger WHERE chain = ?').run(chain);
      const insert = db.prepare(
        'INSERT INTO ledger (chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash) VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prevHash, @hash)',
      );
      for (const e of entries) insert.run({ ...e, details: JSON.stringify(e.details) });
    },
    async deleteCheckpoints(seqs) {
      for (const s of seqs) db.prepare('DELETE FROM checkpoint_chain WHERE seq = ?').run(s);
    },
  };
}

export function rawDynamo(client: DynamoDBClient, table: string): RawLedger {
  const S = (s: string) => ({ S: s });
  const N = (n: number) => ({ N: String(n) });
  return {
    async writeChain(chain, entries, was) {
      for (const e of entries) {
        await client.send(new PutItemCommand({ TableName: table, Item: { pk: S(`C#${chain}`), sk: S(`E#${padSeq(e.seq)}`), entry: S(encodeEntry(e)), time: N(e.time) } }));
      }
      for (let s = entries.length + 1; s <= was; s++) await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: S(`C#${chain}`), sk: S(`E#${padSeq(s)}`) } }));
      const last = entries.at(-1);
      if (!last) await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: S('HEADS'), sk: S(chain) } }));
      else {
        const times = entries.map((e) => e.time);
        await client.send(
          new PutItemCommand({ TableName: table, Item: { pk: S('HEADS'), sk: S(chain), seq: N(last.seq), hash: S(last.hash), firstTime: N(Math.min(...times)), lastTime: N(Math.max(...times)) } }),
        );
      }
    },
    async deleteCheckpoints(seqs) {
      for (const s of seqs) await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: S('CHECKPOINTS'), sk: S(padSeq(s)) } }));
    },
  };
}

export function rawFirestore(db: Firestore, prefix = 'keyhold'): RawLedger {
  const chainDoc = (chain: string) => db.collection(`${prefix}_chains`).doc(chain);
  return {
    async writeChain(chain, entries, was) {
      for (const e of entries) await chainDoc(chain).collection('entries').doc(padSeq(e.seq)).set({ entry: encodeEntry(e), time: e.time });
      for (let s = entries.length + 1; s <= was; s++) await chainDoc(chain).collection('entries').doc(padSeq(s)).delete();
      const last = entries.at(-1);
      if (last) await chainDoc(chain).set({ seq: last.seq, hash: last.hash, commit: 'mallory' });
      else await chainDoc(chain).delete();
    },
    async deleteCheckpoints(seqs) {
      for (const s of seqs) await db.collection(`${prefix}_checkpoint_chain`).doc(padSeq(s)).delete();
    },
  };
}

/** node-vault against KV v2 at `secret/`: data writes without cas, and metadata deletes that remove every version. */
export interface RawVaultClient {
  write(path: string, body: unknown): Promise<unknown>;
  delete(path: string): Promise<unknown>;
}

export function rawVault(client: RawVaultClient, prefix: string): RawLedger {
  const data = (key: string) => `secret/data/${prefix}${key}`;
  const meta = (key: string) => `secret/metadata/${prefix}${key}`;
  return {
    async writeChain(chain, entries, was) {
      for (const e of entries) {
        await client.delete(meta(`chains/${chain}/${padSeq(e.seq)}`));
        await client.write(data(`chains/${chain}/${padSeq(e.seq)}`), { data: { entry: encodeEntry(e), state: 'committed' } });
      }
      for (let s = entries.length + 1; s <= was; s++) await client.delete(meta(`chains/${chain}/${padSeq(s)}`));
      await client.delete(meta(`heads/${chain}`));
      if (entries.length > 0) await client.write(data(`heads/${chain}`), { data: { seq: entries.length } });
    },
    async deleteCheckpoints(seqs) {
      for (const s of seqs) await client.delete(meta(`checkpoints/${padSeq(s)}`));
    },
  };
}
