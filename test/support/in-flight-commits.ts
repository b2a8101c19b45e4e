// A state store behind a network where a commit can be caught in flight: a
// function frozen before it sent the commit (sent, if at all, on resume), or
// a commit already sent that the store applies later (lands when the test
// says, which a real store allows up to its deadline C). Also down, like
// FaultyStateStore.

import { CommitDeadlineError, StoreUnavailableError, type Commit, type StateStore } from '../../src/ports';

/** The broker's own rule, as a sender: nothing goes out past the deadline or after the caller gave up. */
function checkSendable(store: string, c: Commit): void {
  if (c.signal?.aborted || (c.deadline && c.deadline.clock.now() >= c.deadline.sendBy)) throw new CommitDeadlineError(store);
}

interface Held {
  readonly commit: Commit;
  readonly sent: boolean;
  settle(run: () => Promise<unknown>): void;
}

export class InFlightStateStore implements StateStore {
  mode: 'ok' | 'down' = 'ok';
  private hold: 'frozen' | 'slow' | null = null;
  private held: Held | null = null;

  constructor(private readonly inner: StateStore) {}
  get name() {
    return this.inner.name;
  }

  /** The next commit is caught: `frozen` before it is sent, `slow` after. */
  catchNext(how: 'frozen' | 'slow'): void {
    this.hold = how;
  }

  /** Frozen: the function resumes and sends now, as its own code still allows. Slow: the store applies it now. */
  async release(): Promise<'landed' | 'refused'> {
    const h = this.held;
    if (!h) throw new Error('no commit in flight');
    this.held = null;
    let outcome: 'landed' | 'refused' = 'refused';
    const run = async () => {
      // What was on the wire is applied as it was sent; a resumed function checks its deadline first.
      const commit = h.sent ? { ...h.commit, deadline: undefined, signal: undefined } : h.commit;
      if (!h.sent) checkSendable(this.name, commit);
      const out = await this.inner.commit({ record: commit.record, entries: commit.entries } as Commit);
      outcome = 'landed';
      return out;
    };
    await new Promise<void>((done) => h.settle(() => run().finally(done)));
    return outcome;
  }

  private gate(): void {
    if (this.mode === 'down') throw new StoreUnavailableError(this.inner.name, 'connection refused');
  }

  async getValidator(id: string) {
    this.gate();
    return this.inner.getValidator(id);
  }
  async listValidators() {
    this.gate();
    return this.inner.listValidators();
  }
  async commit(c: Commit) {
    this.gate();
    const how = this.hold;
    if (how === null) return this.inner.commit(c);
    this.hold = null;
    if (how === 'slow') checkSendable(this.name, c);
    return new Promise<Awaited<ReturnType<StateStore['commit']>>>((resolve, reject) => {
      this.held = { commit: c, sent: how === 'slow', settle: (run) => void run().then(resolve as (v: unknown) => void, reject) };
    });
  }
  async queryLedger(q: Parameters<StateStore['queryLedger']>[0]) {
    this.gate();
    return this.inner.queryLedger(q);
  }
  async readChain(chain: string, from: number, limit: number) {
    this.gate();
    return this.inner.readChain(chain, from, limit);
  }
  async chainHeads() {
    this.gate();
    return this.inner.chainHeads();
  }
  async putCheckpoint(c: Parameters<StateStore['putCheckpoint']>[0]) {
    this.gate();
    return this.inner.putCheckpoint(c);
  }
  async latestCheckpoint() {
    this.gate();
    return this.inner.latestCheckpoint();
  }
  async health() {
    return this.mode === 'ok' ? this.inner.health() : { state: 'error' as const, detail: this.mode };
  }
  close() {
    return this.inner.close();
  }
}
