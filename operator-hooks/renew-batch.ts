// One renewal request for every validator of the pod: the keepers of a
// pod's validators ask to renew at nearly the same moments (their grants
// came from one fetch), so asks that arrive within a short window go out as
// one list. Each keeper still gets its own answer, as if it had asked alone.

import { itemAnswer, type Answer, type GrantView, type ListBrokerClient, type RequestOpts } from './broker-client';
import type { Sleep } from './clock';

interface Ask {
  readonly grant: string;
  readonly timeoutMs: number | undefined;
  readonly resolve: (a: Answer<GrantView>) => void;
}

export class RenewBatch {
  private queue: Ask[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly client: ListBrokerClient,
    private readonly sleep: Sleep,
    private readonly windowMs = 50,
    private readonly max = 1000,
  ) {}

  renew(grant: string, opts: RequestOpts = {}): Promise<Answer<GrantView>> {
    return new Promise((resolve) => {
      const ask: Ask = { grant, timeoutMs: opts.timeoutMs, resolve };
      // An aborted keeper (shutting down) stops waiting; the list still goes out for the others.
      opts.signal?.addEventListener('abort', () => resolve({ ok: false, kind: 'unreachable', reason: 'aborted' }), { once: true });
      this.queue.push(ask);
      if (this.queue.length >= this.max) void this.flush();
      else this.flushing ??= this.sleep(this.windowMs).then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.flushing = null;
    const asks = this.queue.splice(0, this.max);
    if (asks.length === 0) return;
    // The tightest deadline of the keepers asked: none may wait past its own.
    const timeouts = asks.map((a) => a.timeoutMs).filter((t): t is number => t !== undefined);
    const answer = await this.client.renewGrants(asks.map((a) => a.grant), timeouts.length > 0 ? { timeoutMs: Math.min(...timeouts) } : {});
    if (!answer.ok) {
      for (const a of asks) a.resolve(answer);
    } else if (answer.body.results.length !== asks.length) {
      for (const a of asks) a.resolve({ ok: false, kind: 'unreachable', reason: 'the broker answered a different number of renewals' });
    } else {
      asks.forEach((a, i) => a.resolve(itemAnswer(answer.body.results[i]!)));
    }
    if (this.queue.length > 0) this.flushing ??= this.sleep(0).then(() => this.flush());
  }
}
