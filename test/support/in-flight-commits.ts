// A state store behind a network where a commit can be caught in flight: a
// function frozen before it sent the commit (sent, if at all, on resume), or
// a commit already sent that the store applies later (lands when the test
// says, which a real store allows up to its deadline C). Down like any
// FaultyStateStore.

import { CommitDeadlineError, type Commit, type StateStore } from '../../src/ports';
import { FaultyStateStore } from './faulty-stores';

/** The broker's own rule, as a sender: nothing goes out past the deadline or after the caller gave up. */
function checkSendable(store: string, c: Commit): void {
  if (c.signal?.aborted || (c.deadline && c.deadline.clock.now() >= c.deadline.sendBy)) throw new CommitDeadlineError(store);
}

interface Held {
  readonly commit: Commit;
  readonly sent: boolean;
  settle(run: () => Promise<unknown>): void;
}

export class InFlightStateStore extends FaultyStateStore {
  private hold: 'frozen' | 'slow' | null = null;
  private held: Held | null = null;

  constructor(private readonly store: StateStore) {
    super(store);
  }

  /** The next commit is caught: `frozen` before it is sent, `slow` after. */
  catchNext(how: 'frozen' | 'slow'): void {
    this.hold = how;
  }

  /** A commit is caught and not yet released. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** Frozen: the function resumes and sends now, as its own code still allows. Slow: the store applies it now. */
  async release(): Promise<'landed' | 'refused'> {
    const h = this.held;
    if (!h) throw new Error('no commit in flight');
    this.held = null;
    let outcome: 'landed' | 'refused' = 'refused';
    const run = async () => {
      // What was on the wire is applied as it was sent; a resumed function checks its deadline first.
      if (!h.sent) checkSendable(this.name, h.commit);
      const out = await this.store.commit({ record: h.commit.record, entries: h.commit.entries } as Commit);
      outcome = 'landed';
      return out;
    };
    await new Promise<void>((done) => h.settle(() => run().finally(done)));
    return outcome;
  }

  override async commit(c: Commit) {
    const how = this.hold;
    if (how === null || this.mode === 'down') return super.commit(c);
    this.hold = null;
    if (how === 'slow') checkSendable(this.name, c);
    return new Promise<Awaited<ReturnType<StateStore['commit']>>>((resolve, reject) => {
      this.held = { commit: c, sent: how === 'slow', settle: (run) => void run().then(resolve as (v: unknown) => void, reject) };
    });
  }
}
