// One worker of a parallel ledger verification: opens the database file
// read-only and walks its share of the chains with the same ChainVerifier as
// the sequential path, stopping at its first bad chain.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { ChainVerifier, type VerifyProblem } from '../../core/ledger';
import { fromRawRow, ledgerColumns } from './ledger-rows';

export interface VerifyTask {
  readonly path: string;
  /** In sorted order. */
  readonly chains: readonly string[];
  readonly hashAt: readonly [string, number][];
}

export interface VerifyTaskResult {
  readonly problem: VerifyProblem | null;
  readonly entries: number;
  readonly hashesAt: [string, string][];
}

export function verifyTask(task: VerifyTask): VerifyTaskResult {
  const db = new Database(task.path, { readonly: true, fileMustExist: true });
  try {
    const wanted = new Map(task.hashAt);
    const rows = db.prepare(`SELECT ${ledgerColumns.join(', ')} FROM ledger WHERE chain = ? ORDER BY seq`).raw(true);
    const hashesAt: [string, string][] = [];
    let entries = 0;
    for (const chain of task.chains) {
      const v = new ChainVerifier(chain);
      const at = wanted.get(chain);
      for (const row of rows.iterate(chain) as IterableIterator<unknown[]>) {
        const e = fromRawRow(row);
        if (!v.push(e)) break;
        entries += 1;
        if (at === e.seq) hashesAt.push([chain, e.hash]);
      }
      const problem = v.result();
      if (problem) return { problem, entries, hashesAt };
    }
    return { problem: null, entries, hashesAt };
  } finally {
    db.close();
  }
}

if (parentPort && workerData) parentPort.postMessage(verifyTask(workerData as VerifyTask));
