// What a chaos run must show, read from the stand-ins' reports (all stamped
// on the controller's one monotonic clock) and the ledger. Pure: the tests
// of this file feed it schedules that break each rule, so every check is
// shown to fail when it should.

export interface Interval {
  /** The key (validator id). */
  readonly key: string;
  /** Pod instance (pod UID). */
  readonly holder: string;
  readonly pod: string;
  /** From the stand-in's "loading" report, ms on the controller's clock. */
  readonly start: number;
  /** When the controller saw the stand-in exit; null while it holds. */
  end: number | null;
  /** The epoch of the grant the stand-in started under. */
  readonly epoch: number;
  /** What the broker said of the predecessor (fetch's grant.json): none, released, acknowledged or unproven. */
  readonly predecessor: string;
  /** Highest block slot in the slashing history it received; -1: none. */
  readonly watermark: number;
}

export interface Signing {
  readonly key: string;
  readonly holder: string;
  readonly at: number;
  readonly slot: number;
}

export interface Violation {
  readonly kind: 'overlap' | 'epoch_fell' | 'watermark_below_signing' | 'watermark_fell' | 'ledger_unverified' | 'ledger_missing_epoch' | 'not_live';
  readonly detail: string;
}

/** Predecessors whose stop, with its history, the broker heard. */
const provenStops = new Set(['released', 'acknowledged']);

const byStart = (a: Interval, b: Interval) => a.start - b.start;
const keysOf = (xs: readonly Interval[]) => [...new Set(xs.map((i) => i.key))];

/** Two pod instances holding one key at the same instant, by the one clock. */
export function overlaps(intervals: readonly Interval[], endOfRun: number): Violation[] {
  const out: Violation[] = [];
  for (const key of keysOf(intervals)) {
    const xs = intervals.filter((i) => i.key === key).sort(byStart);
    for (let i = 0; i < xs.length; i++) {
      for (let j = i + 1; j < xs.length; j++) {
        const a = xs[i]!;
        const b = xs[j]!;
        if (a.holder === b.holder) continue;
        if (b.start < (a.end ?? endOfRun)) out.push({ kind: 'overlap', detail: `${key}: ${a.pod} epoch ${a.epoch} [${a.start}, ${a.end ?? 'open'}] overlaps ${b.pod} epoch ${b.epoch} [${b.start}, ${b.end ?? 'open'}]` });
      }
    }
  }
  return out;
}

/** In the order the holdings began, epochs never fall, and a new pod instance always comes with a higher one. */
export function epochsRise(intervals: readonly Interval[]): Violation[] {
  const out: Violation[] = [];
  for (const key of keysOf(intervals)) {
    const xs = intervals.filter((i) => i.key === key).sort(byStart);
    for (let i = 1; i < xs.length; i++) {
      const a = xs[i - 1]!;
      const b = xs[i]!;
      if (b.epoch < a.epoch || (b.holder !== a.holder && b.epoch === a.epoch)) {
        out.push({ kind: 'epoch_fell', detail: `${key}: ${b.pod} started under epoch ${b.epoch} after ${a.pod} held epoch ${a.epoch}` });
      }
    }
  }
  return out;
}

/**
 * Slashing history across handoffs: what each holder received never falls,
 * and a holder whose predecessor's stop the broker called proven received at
 * least every block that predecessor signed. (An unproven stop is one the
 * broker could not hear about; the new holder is told so, and only the
 * first rule holds.)
 */
export function watermarksHold(intervals: readonly Interval[], signings: readonly Signing[]): Violation[] {
  const out: Violation[] = [];
  for (const key of keysOf(intervals)) {
    const xs = intervals.filter((i) => i.key === key).sort(byStart);
    let highest = -1;
    for (let i = 0; i < xs.length; i++) {
      const b = xs[i]!;
      if (b.watermark < highest) out.push({ kind: 'watermark_fell', detail: `${key}: ${b.pod} epoch ${b.epoch} received watermark ${b.watermark} after one of ${highest} was handed out` });
      highest = Math.max(highest, b.watermark);
      const prev = i > 0 ? xs[i - 1]! : null;
      if (!prev || prev.holder === b.holder || !provenStops.has(b.predecessor)) continue;
      const last = signings.filter((s) => s.key === key && s.holder === prev.holder && s.at <= b.start).reduce((m, s) => Math.max(m, s.slot), -1);
      if (b.watermark < last) out.push({ kind: 'watermark_below_signing', detail: `${key}: ${b.pod} epoch ${b.epoch} received watermark ${b.watermark}, but its proven predecessor ${prev.pod} signed slot ${last}` });
    }
  }
  return out;
}

export interface LedgerView {
  readonly verified: boolean;
  readonly problem?: string;
  /** Epochs the ledger's holding intervals name, per key. */
  readonly epochs: Readonly<Record<string, readonly number[]>>;
}

/** The ledger verifies, and every epoch under which a stand-in held the key is a holding the ledger tells. */
export function ledgerTells(intervals: readonly Interval[], ledger: LedgerView): Violation[] {
  const out: Violation[] = [];
  if (!ledger.verified) out.push({ kind: 'ledger_unverified', detail: ledger.problem ?? 'audit verify failed' });
  for (const key of keysOf(intervals)) {
    const told = new Set(ledger.epochs[key] ?? []);
    for (const e of new Set(intervals.filter((i) => i.key === key).map((i) => i.epoch))) {
      if (!told.has(e)) out.push({ kind: 'ledger_missing_epoch', detail: `${key}: a stand-in held under epoch ${e}, which the ledger's holders do not name` });
    }
  }
  return out;
}

/** Longest stretch, from the first holding to the end of the run, with no holder of `key`. */
export function longestUnavailableMs(intervals: readonly Interval[], key: string, endOfRun: number): number {
  const xs = intervals.filter((i) => i.key === key).sort(byStart);
  if (xs.length === 0) return endOfRun;
  let longest = 0;
  let coveredTo = xs[0]!.start;
  for (const i of xs) {
    if (i.start > coveredTo) longest = Math.max(longest, i.start - coveredTo);
    coveredTo = Math.max(coveredTo, i.end ?? endOfRun);
  }
  return Math.max(longest, endOfRun - coveredTo);
}

/** Holdings that began on a different pod instance than the one before. */
export function handoffs(intervals: readonly Interval[]): number {
  let n = 0;
  for (const key of keysOf(intervals)) {
    const xs = intervals.filter((i) => i.key === key).sort(byStart);
    for (let i = 1; i < xs.length; i++) if (xs[i]!.holder !== xs[i - 1]!.holder) n++;
  }
  return n;
}
