// The SQLite state store's commit thread: its own connection to the same
// file applies each batch and returns only after the durable COMMIT
// (synchronous=FULL), so the broker's event loop keeps serving while the
// disk syncs, and nothing is answered before its commit is durable.

import { parentPort, workerData } from 'node:worker_threads';
import { CommitDeadlineError } from '../../ports';
import { batchCommitter, toWire, wallNow, type PlainCommit, type WireError } from './commit-apply';
import { openDurable } from './database';

export interface CommitTask {
  readonly id: number;
  /** When the batch was handed over (`wallNow`). */
  readonly handedAt: number;
  /**
   * `budgetMs`: what was left of the commit's send window when it was handed
   * over (null: no deadline). Past it the commit is not applied, so it lands
   * by its send deadline, as one applied on the deciding thread would.
   */
  readonly batch: readonly { readonly commit: PlainCommit; readonly budgetMs: number | null }[];
}

export type CommitReply =
  | { readonly ready: true }
  | { readonly id: number; readonly outcomes: readonly ({ readonly ok: unknown[] } | { readonly err: WireError })[] }
  | { readonly id: number; readonly failed: WireError };

const { path, name } = workerData as { path: string; name: string };
const db = openDurable(path);
const apply = batchCommitter(db, name);

parentPort!.on('message', (task: CommitTask) => {
  let reply: CommitReply;
  try {
    const outcomes = apply(
      task.batch.map((b) => ({
        commit: b.commit,
        sendable: () => {
          if (b.budgetMs !== null && wallNow() - task.handedAt >= b.budgetMs) throw new CommitDeadlineError(name);
        },
      })),
    );
    reply = { id: task.id, outcomes: outcomes.map((o) => ('ok' in o ? { ok: o.ok } : { err: toWire(o.err) })) };
  } catch (e) {
    reply = { id: task.id, failed: toWire(e) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true } satisfies CommitReply);
