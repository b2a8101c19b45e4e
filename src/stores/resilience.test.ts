import { describe, expect, it } from 'vitest';
import { generatedKeyMaterial } from '../../test/support/fixtures';
import { KeyStoreOwnershipError, StateConflictError, StoreUnavailableError, type Commit, type KeyStore, type StateStore, type StoredKey } from '../ports';
import { resilientKeyStore, resilientStateStore, type BreakerState, type ResilienceOptions, type StoreCallEvent } from './resilience';

const fast: ResilienceOptions = { timeoutMs: 100, readAttempts: 3, breakerThreshold: 3, halfOpenAfterMs: 150, initialBackoffMs: 1, maxBackoffMs: 5 };

/** A key store whose every call runs `behaviour`, counting calls per operation. */
function scripted(behaviour: (op: string, n: number) => Promise<unknown>) {
  const calls: Record<string, number> = {};
  const run = <T>(op: string) => {
    calls[op] = (calls[op] ?? 0) + 1;
    return behaviour(op, calls[op]!) as Promise<T>;
  };
  const store: KeyStore = {
    name: 'scripted',
    get: () => run<StoredKey | null>('get'),
    put: () => run<{ version: string }>('put'),
    list: () => run('list'),
    health: async () => ({ state: 'ready' }),
    close: async () => undefined,
  };
  return { store, calls };
}

const unavailable = () => Promise.reject(new StoreUnavailableError('scripted', 'server_error'));
const never = () => new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resilientKeyStore', () => {
  it('bounds a hanging call by the timeout, as store_unavailable (timeout)', async () => {
    const { store } = scripted(never);
    const guarded = resilientKeyStore(store, { ...fast, readAttempts: 1 });
    const started = performance.now();
    await expect(guarded.get('v')).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('timeout') });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('retries a read that faults, up to readAttempts in all', async () => {
    const s = scripted(unavailable);
    await expect(resilientKeyStore(s.store, { ...fast, breakerThreshold: 100 }).get('v')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(s.calls.get).toBe(3);

    const flaky = scripted((_op, n) => (n < 3 ? unavailable() : Promise.resolve(null)));
    expect(await resilientKeyStore(flaky.store, fast).get('v')).toBeNull();
    expect(flaky.calls.get).toBe(3);
  });

  it('retries a timed-out read too, each attempt bounded', async () => {
    const s = scripted((_op, n) => (n === 1 ? never() : Promise.resolve(null)));
    expect(await resilientKeyStore(s.store, fast).get('v')).toBeNull();
    expect(s.calls.get).toBe(2);
  });

  it('never retries a write: a timed-out CAS may have been applied', async () => {
    const s = scripted(unavailable);
    await expect(resilientKeyStore(s.store, fast).put('v', generatedKeyMaterial().material)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(s.calls.put).toBe(1);
  });

  it('does not retry answers (not owned, lost CAS) and does not count them against the breaker', async () => {
    const s = scripted((op) => Promise.reject(op === 'get' ? new KeyStoreOwnershipError('scripted', 'v') : new StateConflictError('scripted', 'v')));
    const states: BreakerState[] = [];
    const guarded = resilientKeyStore(s.store, fast, { onBreaker: (_s, st) => states.push(st) });
    for (let i = 0; i < 5; i++) {
      await expect(guarded.get('v')).rejects.toMatchObject({ code: 'not_owned' });
      await expect(guarded.put('v', generatedKeyMaterial().material)).rejects.toMatchObject({ code: 'state_conflict' });
    }
    expect(s.calls).toEqual({ get: 5, put: 5 });
    expect(guarded.breakerState()).toBe('closed');
    expect(states).toEqual([]);
  });

  it('opens the breaker after N consecutive faults, fails fast while open, half-opens, and closes on a success', async () => {
    let healthy = false;
    const s = scripted(() => (healthy ? Promise.resolve(null) : unavailable()));
    const states: BreakerState[] = [];
    const guarded = resilientKeyStore(s.store, { ...fast, readAttempts: 1 }, { onBreaker: (_s, st) => states.push(st) });
    for (let i = 0; i < 3; i++) await expect(guarded.get('v')).rejects.toMatchObject({ message: expect.stringContaining('server_error') });
    expect(guarded.breakerState()).toBe('open');
    // Open: no call reaches the store.
    await expect(guarded.get('v')).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('circuit_open') });
    await expect(guarded.put('v', generatedKeyMaterial().material)).rejects.toMatchObject({ message: expect.stringContaining('circuit_open') });
    expect(s.calls).toEqual({ get: 3 });
    // Health bypasses the breaker, so readiness can see recovery.
    expect((await guarded.health()).state).toBe('ready');

    // Half-open: one trial; it fails, so the breaker opens again.
    await sleep(fast.halfOpenAfterMs + 20);
    await expect(guarded.get('v')).rejects.toMatchObject({ message: expect.stringContaining('server_error') });
    expect(guarded.breakerState()).toBe('open');
    expect(s.calls.get).toBe(4);

    // Half-open again, and the store has healed: closed.
    healthy = true;
    await sleep(fast.halfOpenAfterMs + 20);
    expect(await guarded.get('v')).toBeNull();
    expect(guarded.breakerState()).toBe('closed');
    expect(states).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
  });

  it('a success resets the consecutive count', async () => {
    const s = scripted((_op, n) => (n % 3 === 0 ? Promise.resolve(null) : unavailable()));
    const guarded = resilientKeyStore(s.store, { ...fast, readAttempts: 1 });
    for (let i = 0; i < 9; i++) await guarded.get('v').catch(() => undefined);
    expect(guarded.breakerState()).toBe('closed');
  });

  it('maps errors: store errors pass through, others are counted as faults, and every call is reported', async () => {
    const boom = new Error('raw SDK failure');
    const s = scripted((op) => (op === 'list' ? Promise.reject(boom) : Promise.resolve(null)));
    const events: StoreCallEvent[] = [];
    const guarded = resilientKeyStore(s.store, { ...fast, readAttempts: 2 }, { onCall: (e) => events.push(e) });
    await expect(guarded.list()).rejects.toBe(boom);
    expect(s.calls.list).toBe(2);
    await guarded.get('v');
    expect(events.map((e) => [e.operation, e.outcome, e.code])).toEqual([
      ['list', 'error', 'error'],
      ['get', 'ok', undefined],
    ]);
  });
});

describe('resilientStateStore', () => {
  it("aborts a timed-out commit's signal when the timeout fires, so the store stops sending it, and answers timeout at once", async () => {
    let seen: AbortSignal | undefined;
    const inner = {
      name: 'scripted',
      commit: (c: Commit) => {
        seen = c.signal;
        return never();
      },
    } as unknown as StateStore;
    const guarded = resilientStateStore(inner, { ...fast, readAttempts: 1 });
    const started = performance.now();
    await expect(guarded.commit({ entries: [] })).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('timeout') });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(seen?.aborted).toBe(true);
  });

  it("a commit that carries its own signal is stopped by either: the caller's abort reaches the store", async () => {
    let seen: AbortSignal | undefined;
    const inner = { name: 'scripted', commit: async (c: Commit) => ((seen = c.signal), []) } as unknown as StateStore;
    const caller = new AbortController();
    await resilientStateStore(inner, fast).commit({ entries: [], signal: caller.signal });
    expect(seen?.aborted).toBe(false);
    caller.abort();
    expect(seen?.aborted).toBe(true);
  });

  it('a read that outlives the timeout is answered timeout, and one that answers in time clears its timer', async () => {
    const slow = { name: 'scripted', getValidator: () => sleep(300).then(() => null) } as unknown as StateStore;
    await expect(resilientStateStore(slow, { ...fast, readAttempts: 1 }).getValidator('v')).rejects.toMatchObject({ message: expect.stringContaining('timeout') });
    const quick = { name: 'scripted', getValidator: async () => null } as unknown as StateStore;
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (let i = 0; i < 50; i++) await resilientStateStore(quick, fast).getValidator('v');
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(before);
  });

  it('guards a batched read as it guards getValidator: bounded by the timeout, retried as a read, and counted by the breaker', async () => {
    let calls = 0;
    const hang = { getValidators: () => ((calls += 1), never()) } as unknown as StateStore;
    const events: StoreCallEvent[] = [];
    const guarded = resilientStateStore(hang, { ...fast, readAttempts: 2, breakerThreshold: 2 }, { onCall: (e) => events.push(e) });
    await expect(guarded.getValidators(['v1', 'v2'])).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('timeout') });
    expect(calls).toBe(2);
    expect(events.map((e) => e.operation)).toContain('getValidators');
    expect(guarded.breakerState()).toBe('open');
  });
});
