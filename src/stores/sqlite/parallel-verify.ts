// Ledger verification on several cores: the chains are shared out by length,
// each worker verifies its share from the file, and the first bad chain in
// sorted order wins, as it would walking them one by one. Any failure to run
// workers answers null, and the caller verifies sequentially instead.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ChainsVerification } from '../../ports';
import type { VerifyTask, VerifyTaskResult } from './verify-worker';

export async function verifyChainsInWorkers(
  path: string,
  chains: readonly { chain: string; weight: number }[],
  hashAt: ReadonlyMap<string, number>,
  workers = Math.min(4, availableParallelism()),
): Promise<ChainsVerification | null> {
  if (workers < 2 || chains.length < 2) return null;
  // Longest first onto the lightest share: shares end up close in size.
  const shares = Array.from({ length: Math.min(workers, chains.length) }, () => ({ chains: [] as string[], weight: 0 }));
  for (const c of [...chains].sort((a, b) => b.weight - a.weight)) {
    const lightest = shares.reduce((m, s) => (s.weight < m.weight ? s : m));
    lightest.chains.push(c.chain);
    lightest.weight += c.weight;
  }
  let results: VerifyTaskResult[];
  try {
    results = await Promise.all(
      shares.map((share) => {
        const task: VerifyTask = { path, chains: share.chains.sort(), hashAt: [...hashAt].filter(([c]) => share.chains.includes(c)) };
        return new Promise<VerifyTaskResult>((resolve, reject) => {
          const w = new Worker(new URL('./verify-worker.mjs', import.meta.url), { workerData: task });
          w.once('message', (m: VerifyTaskResult) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`verify worker exited with ${code}`)));
        });
      }),
    );
  } catch {
    return null;
  }
  const problems = results.map((r) => r.problem).filter((p) => p !== null);
  problems.sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  return {
    problem: problems[0] ?? null,
    entries: results.reduce((n, r) => n + r.entries, 0),
    hashesAt: new Map(results.flatMap((r) => r.hashesAt)),
  };
}
