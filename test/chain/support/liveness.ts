// The chain's own record of who attested: Lodestar 1.5.1 answers liveness
// for the current and previous epoch only, so a recorder asks about the
// previous epoch all along and keeps every answer (a yes seen once stays).

import type { BeaconNode } from './lodestar';

export class LivenessRecorder {
  /** epoch → validator index → seen live. */
  readonly epochs = new Map<number, Map<number, boolean>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly beacon: BeaconNode,
    readonly indices: readonly number[],
    everyMs = 2000,
  ) {
    this.timer = setInterval(() => void this.sample().catch(() => undefined), everyMs);
  }

  private async sample(): Promise<void> {
    const previous = (await this.beacon.currentEpoch()) - 1;
    if (previous < 0) return;
    const seen = await this.beacon.live(this.indices, previous);
    const kept = this.epochs.get(previous) ?? new Map<number, boolean>();
    for (const i of this.indices) kept.set(i, kept.get(i) === true || seen.get(i) === true);
    this.epochs.set(previous, kept);
  }

  /** The first recorded epoch after `after` in which every index attested. */
  allLiveAfter(after: number): number | null {
    const done = [...this.epochs].filter(([e, m]) => e > after && this.indices.every((i) => m.get(i))).map(([e]) => e);
    return done.length === 0 ? null : Math.min(...done);
  }

  /** Attestations missed in [from, to): one per validator per recorded epoch it was not seen live. */
  missed(from: number, to: number): number {
    let n = 0;
    for (let e = from; e < to; e++) {
      const m = this.epochs.get(e);
      // An epoch never sampled (the recorder stalled) counts as missed for all: never fewer than the truth.
      n += this.indices.filter((i) => m?.get(i) !== true).length;
    }
    return n;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
