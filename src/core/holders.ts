// Holding intervals: who held a validator's key, from when to when, and how
// each holding ended, reconstructed from the validator's own chain alone.
// Renewals write nothing, so a holding is known by its first grant and by
// the decision that ended it:
//
//   from   the first grant (issued or re-issued) for an epoch, to its pod
//   to     released: the holder's release; fenced: the promotion that moved
//          the designation (the broker renews it no longer); expired: the
//          takeover by a new instance of the slot (the old one is gone and
//          its grant runs out); acknowledged: the fenced holder's word that
//          it stopped, which replaces fenced or expired
//   null   while held
//
// Pure: entries in chain order in, intervals in order of `from` out.

import type { LedgerEntry } from './ledger';

export type HoldingEnd = 'released' | 'acknowledged' | 'expired' | 'fenced';

export interface HoldingInterval {
  readonly validator: string;
  readonly epoch: number;
  readonly slot: string;
  readonly pod: string;
  /** ms */
  readonly from: number;
  /** ms; null while held. */
  readonly to: number | null;
  readonly ended: HoldingEnd | null;
}

const podOf = (actor: string): string | null => (actor.startsWith('pod:') ? actor.slice(4) : null);

/**
 * The entries that took effect: a store without multi-key transactions
 * (Vault) may leave an aborted intent in a chain, always followed by an entry
 * `denied` / `intent_aborted` naming its seqs; both are left out.
 */
export function effectiveEntries(chain: readonly LedgerEntry[]): LedgerEntry[] {
  const aborted = new Set<number>();
  const markers = new Set<number>();
  for (const e of chain) {
    if (e.action !== 'denied' || e.reason !== 'intent_aborted') continue;
    const { fromSeq, toSeq } = e.details;
    if (typeof fromSeq !== 'number' || typeof toSeq !== 'number' || toSeq !== e.seq - 1 || fromSeq > toSeq) throw new Error(`malformed abort record at ${e.chain}/${e.seq}`);
    markers.add(e.seq);
    for (let s = fromSeq; s <= toSeq; s++) aborted.add(s);
  }
  return chain.filter((e) => !aborted.has(e.seq) && !markers.has(e.seq));
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One pass over a validator's chain (in seq order). */
export function holdingIntervals(validator: string, chain: readonly LedgerEntry[]): HoldingInterval[] {
  const out: Mutable<HoldingInterval>[] = [];
  let current: Mutable<HoldingInterval> | null = null;
  // Holdings ended by a fence or a takeover, by epoch: their holder may still acknowledge.
  const awaitingAck = new Map<number, Mutable<HoldingInterval>>();
  const end = (i: Mutable<HoldingInterval>, time: number, how: HoldingEnd) => {
    i.to = time;
    i.ended = how;
  };

  for (const e of effectiveEntries(chain)) {
    if (e.validator !== validator || e.epoch === null) continue;
    const pod = podOf(e.actor);
    switch (e.action) {
      case 'grant_issued':
      case 'grant_reissued': {
        if (pod === null || e.slot === null) break;
        if (current && current.epoch === e.epoch && current.pod === pod) break;
        if (current && current.epoch >= e.epoch) break; // a grant for an epoch already superseded: not a new holding
        if (current) {
          end(current, e.time, 'fenced');
          awaitingAck.set(current.epoch, current);
        }
        current = { validator, epoch: e.epoch, slot: e.slot, pod, from: e.time, to: null, ended: null };
        out.push(current);
        break;
      }
      case 'takeover':
      case 'promoted':
        if (current && current.epoch < e.epoch) {
          end(current, e.time, e.action === 'takeover' ? 'expired' : 'fenced');
          awaitingAck.set(current.epoch, current);
          current = null;
        }
        break;
      case 'released':
        if (current && current.epoch === e.epoch && current.pod === pod) {
          end(current, e.time, 'released');
          current = null;
        }
        break;
      case 'fenced_ack': {
        const fenced = awaitingAck.get(e.epoch);
        if (fenced && fenced.pod === pod) {
          end(fenced, e.time, 'acknowledged');
          awaitingAck.delete(e.epoch);
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}
