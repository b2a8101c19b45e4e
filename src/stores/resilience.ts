// Every store call goes through a timeout, a circuit breaker and, for reads
// only, a retry with jittered backoff (cockatiel). Writes are not retried
// here: a compare-and-swap or ledger append that timed out may have been
// applied, and the broker's own decision loop is the one place that knows
// how to re-decide safely. SDK retries are set explicitly by each adapter
// (normally to one attempt) so the two layers do not multiply.

import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  circuitBreaker,
  handleWhen,
  retry,
} from 'cockatiel';
import { StateConflictError, StoreError, StoreUnavailableError, type KeyStore, type StateStore } from '../ports';

export interface ResilienceOptions {
  /** Per attempt, ms. */
  readonly timeoutMs: number;
  /** Read attempts in all (1 = no retry). */
  readonly readAttempts: number;
  /** Consecutive failures that open the breaker. */
  readonly breakerThreshold: number;
  /** How long the breaker stays open before one trial call, ms. */
  readonly halfOpenAfterMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const defaultResilience: ResilienceOptions = {
  timeoutMs: 2000,
  readAttempts: 3,
  breakerThreshold: 5,
  halfOpenAfterMs: 10_000,
  initialBackoffMs: 50,
  maxBackoffMs: 1000,
};

export type BreakerState = 'closed' | 'open' | 'half_open' | 'isolated';

export interface StoreCallEvent {
  readonly store: string;
  readonly operation: string;
  readonly ms: number;
  readonly outcome: 'ok' | 'error';
  readonly code?: string;
}

export interface ResilienceHooks {
  onCall?(event: StoreCallEvent): void;
  onBreaker?(store: string, state: BreakerState): void;
}

/** Faults worth another attempt or worth counting against the breaker; answers like "not owned" or a lost CAS are not. */
const isFault = (e: unknown): boolean =>
  !(e instanceof StateConflictError) && (!(e instanceof StoreError) || e instanceof StoreUnavailableError);

const breakerStates: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * One attempt, bounded: past `ms` the call fails with cockatiel's
 * TaskCancelledError at once, without waiting for the attempt (cockatiel's
 * aggressive strategy), and the attempt's signal, if it asked for one,
 * aborts. cockatiel's own TimeoutPolicy cost some 15 µs a call here (an
 * AbortController derived per call, listeners on it, and an abort on return
 * that builds a DOMException), and an AbortSignal alone costs 3–4 µs to
 * make on Node 20: two store calls a grant made a visible part of the
 * broker's own work in the grant profile. So only a write, which must stop
 * sending when the time is up, gets a signal.
 */
export function attemptWithin<T>(ms: number, fn: (signal?: AbortSignal) => Promise<T>, withSignal: boolean): Promise<T> {
  const ctrl = withSignal ? new AbortController() : null;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      ctrl?.abort();
      reject(new TaskCancelledError(`Operation timed out after ${ms}ms`));
    }, ms);
    let attempt: Promise<T>;
    try {
      attempt = fn(ctrl?.signal);
    } catch (e) {
      attempt = Promise.reject(e);
    }
    attempt.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

class Guard {
  private readonly retries;
  readonly breaker;

  constructor(
    readonly store: string,
    opts: ResilienceOptions,
    private readonly hooks: ResilienceHooks,
  ) {
    this.breaker = circuitBreaker(handleWhen(isFault), { halfOpenAfter: opts.halfOpenAfterMs, breaker: new ConsecutiveBreaker(opts.breakerThreshold) });
    this.breaker.onStateChange((s) => hooks.onBreaker?.(store, breakerStates[s]));
    this.retries = retry(handleWhen((e) => isFault(e) && !(e instanceof BrokenCircuitError)), {
      maxAttempts: Math.max(0, opts.readAttempts - 1),
      backoff: new ExponentialBackoff({ initialDelay: opts.initialBackoffMs, maxDelay: opts.maxBackoffMs }),
    });
    this.timeoutMs = opts.timeoutMs;
  }

  private readonly timeoutMs: number;

  /** Through the breaker, each attempt bounded: reads retried, writes never. */
  private run<T>(kind: 'read' | 'write', fn: (signal?: AbortSignal) => Promise<T>): Promise<T> {
    const once = () => this.breaker.execute(() => attemptWithin(this.timeoutMs, fn, kind === 'write'));
    return kind === 'read' ? this.retries.execute(once) : once();
  }

  /** A write's `fn` gets the signal the timeout aborts: a commit stops sending when it fires, so nothing of it goes out after the answer. */
  async call<T>(operation: string, kind: 'read' | 'write', fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await this.run(kind, fn);
      this.hooks.onCall?.({ store: this.store, operation, ms: performance.now() - started, outcome: 'ok' });
      return result;
    } catch (e) {
      const mapped = this.map(e);
      this.hooks.onCall?.({ store: this.store, operation, ms: performance.now() - started, outcome: 'error', code: (mapped as { code?: string }).code ?? 'error' });
      throw mapped;
    }
  }

  private map(e: unknown): unknown {
    if (e instanceof BrokenCircuitError) return new StoreUnavailableError(this.store, 'circuit_open', { cause: e });
    if (e instanceof TaskCancelledError) return new StoreUnavailableError(this.store, 'timeout', { cause: e });
    return e;
  }

  breakerState(): BreakerState {
    return breakerStates[this.breaker.state];
  }
}

export type Guarded<T> = T & { readonly breakerState: () => BreakerState };

export function resilientKeyStore(inner: KeyStore, opts: ResilienceOptions = defaultResilience, hooks: ResilienceHooks = {}): Guarded<KeyStore> {
  const g = new Guard(inner.name, opts, hooks);
  return {
    name: inner.name,
    get: (v) => g.call('get', 'read', () => inner.get(v)),
    put: (v, m) => g.call('put', 'write', () => inner.put(v, m)),
    list: () => g.call('list', 'read', () => inner.list()),
    // Health is a probe of the store itself: it bypasses the breaker so it can see recovery.
    health: () => inner.health(),
    close: () => inner.close(),
    breakerState: () => g.breakerState(),
  };
}

export function resilientStateStore(inner: StateStore, opts: ResilienceOptions = defaultResilience, hooks: ResilienceHooks = {}): Guarded<StateStore> {
  const g = new Guard(inner.name, opts, hooks);
  return {
    name: inner.name,
    getValidator: (id) => g.call('getValidator', 'read', () => inner.getValidator(id)),
    getValidators: (ids) => g.call('getValidators', 'read', () => inner.getValidators(ids)),
    listValidators: () => g.call('listValidators', 'read', () => inner.listValidators()),
    keyOwner: (k) => g.call('keyOwner', 'read', () => inner.keyOwner(k)),
    commit: (c) => g.call('commit', 'write', (signal) => inner.commit(signal ? { ...c, signal: c.signal ? AbortSignal.any([c.signal, signal]) : signal } : c)),
    queryLedger: (q) => g.call('queryLedger', 'read', () => inner.queryLedger(q)),
    readChain: (c, f, l) => g.call('readChain', 'read', () => inner.readChain(c, f, l)),
    chainHeads: () => g.call('chainHeads', 'read', () => inner.chainHeads()),
    putCheckpoint: (c) => g.call('putCheckpoint', 'write', () => inner.putCheckpoint(c)),
    latestCheckpoint: () => g.call('latestCheckpoint', 'read', () => inner.latestCheckpoint()),
    listCheckpoints: (f, l) => g.call('listCheckpoints', 'read', () => inner.listCheckpoints(f, l)),
    // Retried like a read: the attempt id makes a repeat of a write that landed answer true again.
    useTokenOnce: (id, e, n, a) => g.call('useTokenOnce', 'read', () => inner.useTokenOnce(id, e, n, a)),
    health: () => inner.health(),
    close: () => inner.close(),
    breakerState: () => g.breakerState(),
  };
}
