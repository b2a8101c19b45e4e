// The last grant this broker instance issued or renewed per validator, for
// `keyhold status`. Renewals write nothing to the state store (DESIGN.md,
// Renew: one read, one signature), so no replica knows another's renewals:
// this is one instance's memory, bounded, and says so in every answer.

export interface GrantNote {
  readonly epoch: number;
  readonly podUid: string;
  /** When it was issued or renewed (ms). */
  readonly at: number;
  /** Its `exp` (ms). */
  readonly exp: number;
  readonly kind: 'issued' | 'renewed';
}

export class LastGrants {
  private readonly notes = new Map<string, GrantNote>();
  constructor(private readonly max = 100_000) {}

  note(validator: string, n: GrantNote): void {
    const prev = this.notes.get(validator);
    // Concurrent answers can finish out of order: an older grant never replaces a newer one.
    if (prev && prev.epoch === n.epoch && prev.podUid === n.podUid && prev.exp > n.exp) return;
    this.notes.delete(validator);
    this.notes.set(validator, n);
    if (this.notes.size > this.max) this.notes.delete(this.notes.keys().next().value!);
  }

  /** The note for the holder named, or null when this instance served it nothing (or served someone else). */
  forHolder(validator: string, epoch: number, podUid: string | null): GrantNote | null {
    const n = this.notes.get(validator);
    return n && podUid !== null && n.epoch === epoch && n.podUid === podUid ? n : null;
  }
}
