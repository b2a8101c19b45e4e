// In-process stand-ins for a store behind a network: down, failing, hanging,
// or serving other material than was imported. The cloud emulators inject the
// same classes on the wire; this lets the broker's own logic be tested fast.

import { StoreUnavailableError, type Commit, type KeyStore, type StateStore } from '../../src/ports';
import { generatedKeyMaterial } from './fixtures';

/**
 * `inner` with some methods replaced, each made from the original (bound to
 * `inner`); every other property is `inner`'s own, its methods bound to it.
 */
export function withMethods<T extends object>(inner: T, replaced: { [K in keyof T]?: (original: T[K]) => T[K] }): T {
  const made = new Map<PropertyKey, unknown>();
  for (const [k, make] of Object.entries(replaced) as [keyof T & string, (o: unknown) => unknown][]) made.set(k, make((inner[k] as (...a: unknown[]) => unknown).bind(inner)));
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (made.has(prop)) return made.get(prop);
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export type FaultMode = 'ok' | 'down' | 'error' | 'hang' | 'wrong_material';

export class FaultyKeyStore implements KeyStore {
  mode: FaultMode = 'ok';
  reads = 0;
  constructor(
    private readonly inner: KeyStore,
    readonly name: string,
  ) {}

  private async gate(): Promise<void> {
    if (this.mode === 'down') throw new StoreUnavailableError(this.name, 'connection refused');
    if (this.mode === 'error') throw new StoreUnavailableError(this.name, 'server error');
    if (this.mode === 'hang') await new Promise(() => {});
  }

  async get(validator: string) {
    this.reads += 1;
    await this.gate();
    if (this.mode === 'wrong_material') return { material: generatedKeyMaterial().material, version: '99' };
    return this.inner.get(validator);
  }
  async put(validator: string, m: Parameters<KeyStore['put']>[1]) {
    await this.gate();
    return this.inner.put(validator, m);
  }
  async list() {
    await this.gate();
    return this.inner.list();
  }
  async health() {
    return this.mode === 'ok' ? this.inner.health() : { state: 'error' as const, detail: this.mode };
  }
  close() {
    return this.inner.close();
  }
}

export class FaultyStateStore implements StateStore {
  /** `commits_down`: reads answer, every commit fails (a decision made, then lost). */
  mode: 'ok' | 'down' | 'commits_down' = 'ok';
  writes = 0;
  constructor(private readonly inner: StateStore) {}
  get name() {
    return this.inner.name;
  }
  private gate(): void {
    if (this.mode === 'down') throw new StoreUnavailableError(this.inner.name, 'connection refused');
  }
  async getValidator(id: string) {
    this.gate();
    return this.inner.getValidator(id);
  }
  async getValidators(ids: readonly string[]) {
    this.gate();
    return this.inner.getValidators(ids);
  }
  async listValidators() {
    this.gate();
    return this.inner.listValidators();
  }
  async keyOwner(key: string) {
    this.gate();
    return this.inner.keyOwner(key);
  }
  async commit(c: Commit) {
    this.gate();
    if (this.mode === 'commits_down') throw new StoreUnavailableError(this.inner.name, 'connection reset');
    this.writes += 1;
    return this.inner.commit(c);
  }
  async queryLedger(q: Parameters<StateStore['queryLedger']>[0]) {
    this.gate();
    return this.inner.queryLedger(q);
  }
  async readChain(c: string, f: number, l: number) {
    this.gate();
    return this.inner.readChain(c, f, l);
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
  async useTokenOnce(id: string, expiresAt: number, now: number, attempt: string) {
    this.gate();
    return this.inner.useTokenOnce(id, expiresAt, now, attempt);
  }
  async listCheckpoints(fromSeq: number, limit: number) {
    this.gate();
    return this.inner.listCheckpoints(fromSeq, limit);
  }
  async health() {
    return this.mode === 'ok' ? this.inner.health() : { state: 'error' as const, detail: 'down' };
  }
  close() {
    return this.inner.close();
  }
}
