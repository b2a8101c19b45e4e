// Repeated refusals, ledgered once with a count. A standby polls every few
// seconds for days; writing each identical refusal would put thousands of
// entries a day on its validator's chain and as many writes on the store.
//
// Each broker instance keeps, in memory, one window per (chain, pod,
// reason, epoch, notBefore): the first refusal is written in full, before
// the answer, as every decision is; identical ones after it are counted;
// the first identical refusal a summary period after the last written entry
// writes a `refusals_repeated` entry with the count, and so does the pod's
// next decision on that chain (a grant, say). Entries stay append-only and
// hash-chained: a count is a later entry, never an edit. Why memory and not
// the store: a store-side dedupe needs a read per poll and still cannot edit
// an entry, and a count that is lost with an instance (or evicted when the
// table is full) loses only how many times a refusal that is already written
// was repeated. With several instances, each writes its own first entry.

import type { LedgerDraft } from '../core/ledger';

export interface RefusalDedupeOptions {
  /** How long identical refusals are only counted before a count entry is written, ms. */
  readonly summaryMs: number;
  /** Windows held at once; the oldest is summarised and dropped to make room. */
  readonly maxWindows: number;
}

/** KEYHOLD_REFUSAL_SUMMARY_SECONDS default: a standby polling for a day leaves a first entry and four counts. */
export const defaultRefusalSummaryMs = 6 * 3600_000;

interface Window {
  readonly first: LedgerDraft;
  readonly notBefore: number | null;
  /** When the last entry of this window (the first, or a count) was written. */
  writtenAt: number;
  /** Identical refusals since then that were not written. */
  count: number;
  lastAt: number;
}

export interface RefusalPlan {
  /** Commit these before answering (empty: counted, nothing to write now). */
  readonly entries: LedgerDraft[];
  /** Counts of windows dropped to make room: commit them too, on their own chains. */
  readonly evicted: LedgerDraft[];
  /** The commit failed: forget this refusal, so the next one is written in full. */
  undo(): void;
}

const keyOf = (d: LedgerDraft, notBefore: number | null): string => JSON.stringify([d.chain, d.actor, d.action, d.reason, d.epoch, notBefore]);

export class RefusalLedger {
  readonly #windows = new Map<string, Window>();

  constructor(private readonly opts: RefusalDedupeOptions) {
    if (!(opts.summaryMs > 0) || !(opts.maxWindows >= 1)) throw new TypeError('refusal dedupe needs a positive summary period and room for a window');
  }

  /** What to write for this refusal. `notBefore`: the designation's, so a new wait starts a new window. */
  admit(entry: LedgerDraft, notBefore: number | null): RefusalPlan {
    const key = keyOf(entry, notBefore);
    const w = this.#windows.get(key);
    if (!w) {
      const evicted: LedgerDraft[] = [];
      while (this.#windows.size >= this.opts.maxWindows) {
        const [oldest, ow] = this.#windows.entries().next().value as [string, Window];
        this.#windows.delete(oldest);
        if (ow.count > 0) evicted.push(summary(ow, entry.time));
      }
      const fresh: Window = { first: entry, notBefore, writtenAt: entry.time, count: 0, lastAt: entry.time };
      this.#windows.set(key, fresh);
      return { entries: [entry], evicted, undo: () => this.#windows.get(key) === fresh && this.#windows.delete(key) };
    }
    w.count += 1;
    w.lastAt = entry.time;
    if (entry.time - w.writtenAt < this.opts.summaryMs) return { entries: [], evicted: [], undo: () => undefined };
    const before = { writtenAt: w.writtenAt, count: w.count };
    const written = summary(w, entry.time);
    w.writtenAt = entry.time;
    w.count = 0;
    return {
      entries: [written],
      evicted: [],
      undo: () => {
        w.writtenAt = before.writtenAt;
        w.count = before.count;
      },
    };
  }

  /** The pod's next decision on `chain`: the counts it still owes, to commit with that decision. */
  settle(chain: string, actor: string, now: number): LedgerDraft[] {
    const out: LedgerDraft[] = [];
    for (const [key, w] of this.#windows) {
      if (w.first.chain !== chain || w.first.actor !== actor) continue;
      this.#windows.delete(key);
      if (w.count > 0) out.push(summary(w, now));
    }
    return out;
  }

  /** Windows held now (tests, metrics). */
  get size(): number {
    return this.#windows.size;
  }
}

function summary(w: Window, now: number): LedgerDraft {
  const f = w.first;
  return {
    chain: f.chain,
    time: now,
    actor: f.actor,
    action: 'refusals_repeated',
    validator: f.validator,
    epoch: f.epoch,
    slot: f.slot,
    reason: f.reason,
    details: { of: f.action, count: w.count, since: w.writtenAt, until: w.lastAt, notBefore: w.notBefore },
  };
}
