// Holds a waiting fetch (POST /v1/grants with `wait`) until its validator's
// designation changes: a release, a fenced holder's acknowledgement, a
// promotion. A pod already waiting then gets its key within one re-read of
// the change instead of one retry interval.
//
// The watch only wakes callers. It never decides: whatever it saw, the woken
// fetch reads the store afresh and commits before it grants, exactly as a
// first request does, so a stale or wrong wake costs one refusal, never a
// grant. One re-read per waited validator per tick serves all its waiters,
// and a change this broker commits (or reads) wakes them at once.

export interface WatchOptions {
  /** How often the designations that someone waits on are read again, ms. */
  readonly pollMs: number;
  /** Waiters held at once; beyond it a request is answered without waiting. */
  readonly maxWaiters: number;
}

export interface WatchSource {
  /** The newest version this broker knows of the validator's record, or null. */
  latest(validator: string): number | null;
  /** Read the validator again from the store; its answer reaches the watch through `saw`. */
  reread(validator: string): Promise<void>;
}

interface Waiter {
  readonly seen: number;
  readonly wake: (changed: boolean) => void;
}

export class DesignationWatch {
  readonly #waiters = new Map<string, Set<Waiter>>();
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #polling = false;
  /** Re-reads done, for the cost count (test/bench/fleet-day.ts). */
  rereads = 0;

  constructor(
    private readonly source: WatchSource,
    private readonly opts: WatchOptions,
  ) {
    if (!(opts.pollMs > 0) || !(opts.maxWaiters >= 0)) throw new TypeError('a designation watch needs a positive poll period');
  }

  /**
   * Resolves true as soon as a record of `validator` newer than version
   * `seen` is known here, false after `ms` (or at once when the watch is full).
   */
  changed(validator: string, seen: number, ms: number): Promise<boolean> {
    if ((this.source.latest(validator) ?? -1) > seen) return Promise.resolve(true);
    if (ms <= 0 || this.#count >= this.opts.maxWaiters) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let set = this.#waiters.get(validator);
      if (!set) this.#waiters.set(validator, (set = new Set()));
      const timeout = setTimeout(() => done(false), ms);
      const waiter: Waiter = { seen, wake: (changed) => done(changed) };
      const done = (changed: boolean) => {
        clearTimeout(timeout);
        const s = this.#waiters.get(validator);
        if (s?.delete(waiter)) {
          this.#count--;
          if (s.size === 0) this.#waiters.delete(validator);
          resolve(changed);
        }
      };
      set.add(waiter);
      this.#count++;
      this.#schedule();
    });
  }

  /** A record of `validator` at `version` is known here (committed or read by this broker). */
  saw(validator: string, version: number): void {
    const set = this.#waiters.get(validator);
    if (!set) return;
    for (const w of [...set]) if (version > w.seen) w.wake(true);
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#count;
  }

  #schedule(): void {
    if (this.#timer !== null || this.#polling) return;
    this.#timer = setTimeout(() => void this.#poll(), this.opts.pollMs);
    // A waiter holds its own timeout; the poll alone must not keep a process alive.
    this.#timer.unref?.();
  }

  async #poll(): Promise<void> {
    this.#timer = null;
    this.#polling = true;
    try {
      // A store fault leaves the waiters waiting: their own timeouts answer them.
      await Promise.all(
        [...this.#waiters.keys()].map((v) => {
          this.rereads++;
          return this.source.reread(v).catch(() => undefined);
        }),
      );
    } finally {
      this.#polling = false;
    }
    if (this.#count > 0) this.#schedule();
  }
}
