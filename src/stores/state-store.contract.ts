// The one exercise every state + ledger store must pass (as Vault's
// sdk/physical/testing.go is for its backends): SQLite, and each cloud store
// against its emulator. Concurrency is tested with separate store instances
// (separate clients) on one backend, as separate broker instances would be.

import { describe, expect, it } from 'vitest';
import { eachBounded } from '../each-bounded';
import { createRecord, type ValidatorRecord } from '../core/designation';
import { nextCheckpoint, type SignedCheckpoint } from '../core/checkpoints';
import { effectiveEntries } from '../core/holders';
import { verifyChain, type LedgerDraft, type LedgerEntry } from '../core/ledger';
import { writeInterchange } from '../core/slashing-protection';
import { CommitDeadlineError, KeyInUseError, StateConflictError, StoreError, type LedgerQuery, type StateStore } from '../ports';
import { compareEntries, matchesQuery } from './ledger-codec';

export interface StateStoreBackend {
  /** A new store instance with its own client, on this backend's (fresh, empty) namespace. */
  open(): Promise<StateStore>;
  /** Store something malformed as `id`'s record, as a hostile or corrupted store would answer. */
  corruptRecord(id: string): Promise<void>;
  /** Where a checkpoint past one item is stored in parts: delete the last part of checkpoint `seq`, as a hostile store could. */
  dropCheckpointPart?(seq: number): Promise<void>;
  /** Where the store talks to a server: a store on this backend whose wire is cut once `requests` of its reads have been sent, as a store going down mid-read. */
  cutAfter?(requests: number): Promise<StateStore>;
  dispose(): Promise<void>;
}

export interface ContractOptions {
  /** Set when the backend cannot run here: the suite is skipped under a name that says why. */
  readonly skip?: string;
  /** Writers in the concurrency tests (default 8). */
  readonly writers?: number;
}

const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);

export const recordFor = (id: string, now = t0): ValidatorRecord =>
  createRecord({ id, slots: ['eu1/validators/a-0', 'eu1/validators/b-0'], serviceAccounts: ['validator'], keyFingerprint: 'fp', keyFormat: 'eip2335', now });

const moved = (r: ValidatorRecord, now: number): ValidatorRecord => ({
  ...r,
  designation: { ...r.designation, epoch: r.designation.epoch + 1, podUid: `pod-${now}`, state: 'held', updatedAt: now },
  version: r.version + 1,
});

export const draftFor = (chain: string, time: number, extra: Partial<LedgerDraft> = {}): LedgerDraft => ({
  chain,
  time,
  actor: 'test',
  action: 'grant_issued',
  validator: chain.startsWith('_') ? null : chain,
  epoch: 1,
  slot: 'eu1/validators/a-0',
  reason: null,
  details: {},
  ...extra,
});

async function wholeChain(store: StateStore, chain: string): Promise<LedgerEntry[]> {
  return store.readChain(chain, 1, 10_000);
}

export { effectiveEntries };

/** The record's last change has its ledger entry, and the chain is sound. */
async function expectConsistent(store: StateStore, id: string): Promise<void> {
  const record = await store.getValidator(id);
  const chain = await wholeChain(store, id);
  expect(verifyChain(id, chain)).toBeNull();
  expect(chain.map((e) => e.seq)).toEqual(chain.map((_, i) => i + 1));
  if (record) expect(effectiveEntries(chain).filter((e) => e.details.version === record.version)).toHaveLength(1);
}

async function allPages(store: StateStore, q: Omit<LedgerQuery, 'cursor'>): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.queryLedger({ ...q, ...(cursor ? { cursor } : {}) });
    expect(page.entries.length).toBeLessThanOrEqual(q.limit);
    out.push(...page.entries);
    if (page.cursor === null) return out;
    cursor = page.cursor;
  }
  throw new Error('query did not end');
}

export function describeStateStoreContract(name: string, makeBackend: () => Promise<StateStoreBackend>, opts: ContractOptions = {}): void {
  const suite = opts.skip ? describe.skip : describe;
  const writers = opts.writers ?? 8;

  suite(`state store contract: ${name}${opts.skip ? ` (skipped: ${opts.skip})` : ''}`, () => {
    /** A fresh backend and one store on it; everything opened is closed after the test. */
    async function setup(): Promise<{ store: StateStore; open: () => Promise<StateStore>; backend: StateStoreBackend; done: () => Promise<void> }> {
      const backend = await makeBackend();
      const opened: StateStore[] = [];
      const open = async () => {
        const s = await backend.open();
        opened.push(s);
        return s;
      };
      const store = await open();
      return {
        store,
        open,
        backend,
        done: async () => {
          await Promise.allSettled(opened.map((s) => s.close()));
          await backend.dispose();
        },
      };
    }

    it('reads nothing from an empty store', async () => {
      const { store, done } = await setup();
      try {
        expect(await store.getValidator('v1')).toBeNull();
        expect(await store.listValidators()).toEqual([]);
        expect(await store.keyOwner('ab'.repeat(48))).toBeNull();
        expect(await store.chainHeads()).toEqual([]);
        expect(await store.readChain('v1', 1, 10)).toEqual([]);
        expect(await store.latestCheckpoint()).toBeNull();
        expect(await store.queryLedger({ limit: 10 })).toEqual({ entries: [], cursor: null });
        expect((await store.health()).state).toBe('ready');
      } finally {
        await done();
      }
    });

    it('creates a record with its entry, and refuses to create it twice', async () => {
      const { store, done } = await setup();
      try {
        const r = recordFor('v1');
        const [entry] = await store.commit({ record: { next: r, expectedVersion: null }, entries: [draftFor('v1', t0, { details: { version: 1 } })] });
        expect(entry).toMatchObject({ chain: 'v1', seq: 1, details: { version: 1 } });
        expect(await store.getValidator('v1')).toEqual(r);
        expect(await store.listValidators()).toEqual([r]);
        await expect(store.commit({ record: { next: r, expectedVersion: null }, entries: [draftFor('v1', t0 + 1)] })).rejects.toBeInstanceOf(StateConflictError);
        // The refused commit left no entry behind.
        expect(await wholeChain(store, 'v1')).toHaveLength(1);
        await expectConsistent(store, 'v1');
      } finally {
        await done();
      }
    });

    it('compare-and-swaps on the version and refuses a stale one', async () => {
      const { store, done } = await setup();
      try {
        const r1 = recordFor('v1');
        await store.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t0, { details: { version: 1 } })] });
        const r2 = moved(r1, t0 + 10);
        await store.commit({ record: { next: r2, expectedVersion: 1 }, entries: [draftFor('v1', t0 + 10, { details: { version: 2 } })] });
        expect(await store.getValidator('v1')).toEqual(r2);
        await expectConsistent(store, 'v1');
        const stale = moved(r1, t0 + 20);
        await expect(store.commit({ record: { next: stale, expectedVersion: 1 }, entries: [draftFor('v1', t0 + 20, { details: { version: 2 } })] })).rejects.toBeInstanceOf(
          StateConflictError,
        );
        expect(await store.getValidator('v1')).toEqual(r2);
        expect(await wholeChain(store, 'v1')).toHaveLength(2);
        await expectConsistent(store, 'v1');
        // A change for a record that does not exist is a conflict too.
        await expect(store.commit({ record: { next: moved(recordFor('nope'), t0), expectedVersion: 1 }, entries: [draftFor('nope', t0)] })).rejects.toBeInstanceOf(
          StateConflictError,
        );
        expect(await store.readChain('nope', 1, 10)).toEqual([]);
      } finally {
        await done();
      }
    });

    it('sends nothing of a commit past its send deadline or after its caller gave up, and changes nothing', async () => {
      const { store, done } = await setup();
      try {
        const r1 = recordFor('v1');
        const clock = { now: () => t0 };
        await store.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t0, { details: { version: 1 } })], deadline: { sendBy: t0 + 1, clock } });
        const late = { sendBy: t0, clock };
        await expect(store.commit({ record: { next: moved(r1, t0), expectedVersion: 1 }, entries: [draftFor('v1', t0, { details: { version: 2 } })], deadline: late })).rejects.toBeInstanceOf(
          CommitDeadlineError,
        );
        await expect(store.commit({ entries: [draftFor('v1', t0)], deadline: late })).rejects.toBeInstanceOf(CommitDeadlineError);
        const gaveUp = new AbortController();
        gaveUp.abort();
        await expect(store.commit({ record: { next: moved(r1, t0), expectedVersion: 1 }, entries: [draftFor('v1', t0, { details: { version: 2 } })], signal: gaveUp.signal })).rejects.toBeInstanceOf(
          CommitDeadlineError,
        );
        expect(await store.getValidator('v1')).toEqual(r1);
        expect(effectiveEntries(await wholeChain(store, 'v1'))).toHaveLength(1);
        await expectConsistent(store, 'v1');
      } finally {
        await done();
      }
    });

    it(`lets exactly one of ${writers} concurrent writers from separate instances win a compare-and-swap`, async () => {
      const { store, open, done } = await setup();
      try {
        const r1 = recordFor('v1');
        await store.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t0, { details: { version: 1 } })] });
        const stores = await Promise.all(Array.from({ length: writers }, () => open()));
        const results = await Promise.allSettled(
          stores.map((s, i) => s.commit({ record: { next: moved(r1, t0 + i + 1), expectedVersion: 1 }, entries: [draftFor('v1', t0 + i + 1, { details: { version: 2, writer: i } })] })),
        );
        const won = results.filter((x) => x.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const x of results) if (x.status === 'rejected') expect(x.reason).toBeInstanceOf(StateConflictError);
        const winner = results.indexOf(won[0]!);
        expect(await store.getValidator('v1')).toEqual(moved(r1, t0 + winner + 1));
        const chain = effectiveEntries(await wholeChain(store, 'v1'));
        expect(chain.filter((e) => e.details.version === 2).map((e) => e.details.writer)).toEqual([winner]);
        await expectConsistent(store, 'v1');
      } finally {
        await done();
      }
    });

    it('binds a key to one validator id for ever: a claim under another id is refused and changes nothing', async () => {
      const { store, open, done } = await setup();
      try {
        const create = (s: StateStore, id: string, key: string) =>
          s.commit({ record: { next: recordFor(id), expectedVersion: null }, entries: [draftFor(id, t0, { details: { version: 1 } })], claimKey: key });
        expect(await store.keyOwner('k1')).toBeNull();
        await create(store, 'v1', 'k1');
        expect(await store.keyOwner('k1')).toBe('v1');
        // Another instance, as another broker would be.
        const other = await open();
        const refused = create(other, 'v2', 'k1');
        await expect(refused).rejects.toBeInstanceOf(KeyInUseError);
        await expect(refused).rejects.toMatchObject({ owner: 'v1', key: 'k1' });
        expect(await store.getValidator('v2')).toBeNull();
        expect(effectiveEntries(await wholeChain(store, 'v2'))).toEqual([]);
        expect(await store.keyOwner('k1')).toBe('v1');
        // The owner claims its own key again (a re-import), then rotates to another.
        const r1 = recordFor('v1');
        const r2 = moved(r1, t0 + 1);
        await other.commit({ record: { next: r2, expectedVersion: 1 }, entries: [draftFor('v1', t0 + 1, { details: { version: 2 } })], claimKey: 'k1' });
        await other.commit({ record: { next: moved(r2, t0 + 2), expectedVersion: 2 }, entries: [draftFor('v1', t0 + 2, { details: { version: 3 } })], claimKey: 'k2' });
        // The key it rotated away from is still its own: for ever, not while current.
        expect(await store.keyOwner('k1')).toBe('v1');
        expect(await store.keyOwner('k2')).toBe('v1');
        await expect(create(store, 'v2', 'k2')).rejects.toBeInstanceOf(KeyInUseError);
        // A lost compare-and-swap that claims a free key leaves it free.
        await expect(
          store.commit({ record: { next: moved(r1, t0 + 3), expectedVersion: 1 }, entries: [draftFor('v1', t0 + 3, { details: { version: 2 } })], claimKey: 'k4' }),
        ).rejects.toBeInstanceOf(StateConflictError);
        expect(await store.keyOwner('k4')).toBeNull();
        await create(store, 'v2', 'k3');
        expect(await store.keyOwner('k3')).toBe('v2');
        expect((await store.getValidator('v1'))?.version).toBe(3);
        await expectConsistent(store, 'v1');
        await expectConsistent(store, 'v2');
      } finally {
        await done();
      }
    });

    it(`lets exactly one of ${writers} instances importing one key under different ids at once take it`, async () => {
      const { store, open, done } = await setup();
      try {
        const stores = await Promise.all(Array.from({ length: writers }, () => open()));
        const ids = stores.map((_, i) => `w${i}`);
        const results = await Promise.allSettled(
          stores.map((s, i) => s.commit({ record: { next: recordFor(ids[i]!), expectedVersion: null }, entries: [draftFor(ids[i]!, t0, { details: { version: 1 } })], claimKey: 'shared' })),
        );
        const won = results.flatMap((x, i) => (x.status === 'fulfilled' ? [ids[i]!] : []));
        expect(won).toHaveLength(1);
        for (const x of results) if (x.status === 'rejected') expect(x.reason).toBeInstanceOf(KeyInUseError);
        expect(await store.keyOwner('shared')).toBe(won[0]);
        expect((await store.listValidators()).map((r) => r.id)).toEqual(won);
        for (const id of ids) {
          expect(effectiveEntries(await wholeChain(store, id))).toHaveLength(id === won[0] ? 1 : 0);
          await expectConsistent(store, id);
        }
      } finally {
        await done();
      }
    });

    it('appends to a chain without a record change, and seals several drafts in order across chains', async () => {
      const { store, done } = await setup();
      try {
        const [a] = await store.commit({ entries: [draftFor('_broker', t0, { action: 'denied', reason: 'unknown_validator', validator: 'ghost' })] });
        expect(a).toMatchObject({ chain: '_broker', seq: 1, validator: 'ghost', action: 'denied' });
        const out = await store.commit({ entries: [draftFor('v1', t0 + 1), draftFor('_broker', t0 + 1), draftFor('v1', t0 + 2, { action: 'store_fallback', details: { store: 'x', n: 1.5, ok: true, none: null } })] });
        expect(out.map((e) => [e.chain, e.seq])).toEqual([
          ['v1', 1],
          ['_broker', 2],
          ['v1', 2],
        ]);
        expect(out[1]!.prevHash).toBe(a!.hash);
        expect(await wholeChain(store, 'v1')).toEqual([out[0], out[2]]);
        expect(verifyChain('_broker', await wholeChain(store, '_broker'))).toBeNull();
        expect(await store.getValidator('v1')).toBeNull();
      } finally {
        await done();
      }
    });

    it(`lands every concurrent append to one chain from ${writers} instances without a fork`, async () => {
      const { store, open, done } = await setup();
      try {
        const stores = await Promise.all(Array.from({ length: writers }, () => open()));
        const perWriter = 3;
        await Promise.all(
          stores.map(async (s, w) => {
            for (let k = 0; k < perWriter; k++) await s.commit({ entries: [draftFor('v1', t0 + k, { details: { w, k } })] });
          }),
        );
        const chain = await wholeChain(store, 'v1');
        expect(chain).toHaveLength(writers * perWriter);
        expect(chain.map((e) => e.seq)).toEqual(chain.map((_, i) => i + 1));
        expect(verifyChain('v1', chain)).toBeNull();
        expect(new Set(chain.map((e) => `${e.details.w}/${e.details.k}`)).size).toBe(writers * perWriter);
        expect(await store.chainHeads()).toEqual([{ chain: 'v1', seq: writers * perWriter, hash: chain.at(-1)!.hash }]);
      } finally {
        await done();
      }
    });

    it('keeps chains independent: concurrent decisions on different validators all commit', async () => {
      const { open, store, done } = await setup();
      try {
        const ids = Array.from({ length: writers }, (_, i) => `v${i}`);
        const stores = await Promise.all(ids.map(() => open()));
        await Promise.all(ids.map((id, i) => stores[i]!.commit({ record: { next: recordFor(id), expectedVersion: null }, entries: [draftFor(id, t0, { details: { version: 1 } })] })));
        await Promise.all(ids.map((id, i) => stores[i]!.commit({ record: { next: moved(recordFor(id), t0 + 1), expectedVersion: 1 }, entries: [draftFor(id, t0 + 1, { details: { version: 2 } })] })));
        expect((await store.listValidators()).map((r) => [r.id, r.version]).sort()).toEqual(ids.map((id) => [id, 2]).sort());
        for (const id of ids) await expectConsistent(store, id);
        expect((await store.chainHeads()).map((h) => [h.chain, h.seq]).sort()).toEqual(ids.map((id) => [id, 2]).sort());
      } finally {
        await done();
      }
    });

    it('queries the ledger by validator, chain, slot, action and time, paging in (time, chain, seq) order', async () => {
      const { store, done } = await setup();
      try {
        // Times not monotonic within a chain (brokers' clocks differ), spread over three days.
        const day = 86_400_000;
        const plan: LedgerDraft[] = [];
        const chains = ['a1', 'a10', 'b', '_broker'];
        for (let i = 0; i < 30; i++) {
          const chain = chains[i % chains.length]!;
          const time = t0 + ((i * 7919) % 13) * (day / 5) + (i % 3);
          plan.push(
            draftFor(chain, time, {
              validator: chain === '_broker' ? (i % 2 ? 'ghost' : null) : chain,
              action: i % 4 === 0 ? 'denied' : 'grant_issued',
              slot: i % 5 === 0 ? 'eu1/validators/b-0' : 'eu1/validators/a-0',
              actor: i % 3 === 0 ? 'operator:alice' : `pod:p${i % 4}`,
              epoch: i % 6 === 0 ? null : 1 + (i % 3),
              details: i % 7 === 0 ? { i, supersededPod: 'p1' } : { i },
            }),
          );
        }
        for (let i = 0; i < plan.length; i += 3) await store.commit({ entries: plan.slice(i, i + 3) });
        const all = [...(await Promise.all(chains.map((c) => wholeChain(store, c)))).flat()].sort(compareEntries);
        expect(all).toHaveLength(30);

        const queries: Omit<LedgerQuery, 'cursor'>[] = [
          { limit: 4 },
          { limit: 7, validator: 'a1' },
          { limit: 3, validator: 'ghost' },
          { limit: 5, chain: '_broker' },
          { limit: 4, slot: 'eu1/validators/b-0' },
          { limit: 4, action: 'denied' },
          { limit: 4, since: t0 + day / 2, until: t0 + 2 * day },
          { limit: 2, since: t0 + day, action: 'grant_issued', validator: 'b' },
          { limit: 3, actor: 'operator:alice' },
          { limit: 3, epoch: 2 },
          { limit: 3, pod: 'p1' },
          { limit: 2, pod: 'p1', epoch: 2 },
          { limit: 50 },
        ];
        for (const q of queries) {
          const expected = all.filter((e) => matchesQuery(e, q));
          expect(expected.length, `${JSON.stringify(q)} selects something`).toBeGreaterThan(0);
          expect(await allPages(store, q), JSON.stringify(q)).toEqual(expected);
        }
        expect(await store.queryLedger({ limit: 5, validator: 'nobody' })).toEqual({ entries: [], cursor: null });
        // Stable: the same cursor gives the same page again.
        const first = await store.queryLedger({ limit: 4 });
        const again = await store.queryLedger({ limit: 4, cursor: first.cursor! });
        expect(await store.queryLedger({ limit: 4, cursor: first.cursor! })).toEqual(again);
      } finally {
        await done();
      }
    });

    it('reads chain ranges and reports chain heads', async () => {
      const { store, done } = await setup();
      try {
        for (let i = 0; i < 12; i++) await store.commit({ entries: [draftFor('v1', t0 + i), ...(i % 4 === 0 ? [draftFor('v2', t0 + i)] : [])] });
        const chain = await wholeChain(store, 'v1');
        expect(chain).toHaveLength(12);
        expect((await store.readChain('v1', 5, 3)).map((e) => e.seq)).toEqual([5, 6, 7]);
        expect((await store.readChain('v1', 11, 10)).map((e) => e.seq)).toEqual([11, 12]);
        expect(await store.readChain('v1', 13, 10)).toEqual([]);
        expect(await store.readChain('v1', 1, 12)).toEqual(chain);
        const v2 = await wholeChain(store, 'v2');
        expect(await store.chainHeads()).toEqual([
          { chain: 'v1', seq: 12, hash: chain.at(-1)!.hash },
          { chain: 'v2', seq: 3, hash: v2.at(-1)!.hash },
        ]);
      } finally {
        await done();
      }
    });

    it('keeps the checkpoint chain: appends by seq, never twice at one seq, lists in order, answers the latest', async () => {
      const { store, open, done } = await setup();
      try {
        expect(await store.listCheckpoints(1, 10)).toEqual([]);
        await store.commit({ entries: [draftFor('v1', t0)] });
        const signed = (c: ReturnType<typeof nextCheckpoint>, signature: string): SignedCheckpoint => ({ ...c, signature });
        const c1 = signed(nextCheckpoint(null, await store.chainHeads(), t0, 180_000), 'sig1');
        expect(await store.putCheckpoint(c1)).toBe(true);
        expect(await store.latestCheckpoint()).toEqual(c1);
        await store.commit({ entries: [draftFor('v2', t0 + 1)] });
        const c2 = signed(nextCheckpoint(c1, await store.chainHeads(), t0 + 1000, 180_000), 'sig2');
        // Two brokers sign the next checkpoint at once: one lands, the other learns it lost.
        const rival = signed(nextCheckpoint(c1, c1.heads, t0 + 999, 180_000), 'rival');
        const other = await open();
        const landed = await Promise.all([store.putCheckpoint(c2), other.putCheckpoint(rival)]);
        expect(landed.filter(Boolean)).toHaveLength(1);
        const winner = landed[0] ? c2 : rival;
        expect(await store.putCheckpoint(c2)).toBe(false);
        expect(await (await open()).latestCheckpoint()).toEqual(winner);
        expect(await other.listCheckpoints(1, 10)).toEqual([c1, winner]);
        expect(await other.listCheckpoints(2, 10)).toEqual([winner]);
        expect(await other.listCheckpoints(1, 1)).toEqual([c1]);
      } finally {
        await done();
      }
    });

    it('keeps a checkpoint over 12,000 chain heads whole (past DynamoDB\'s 400 KB item and Firestore\'s 1 MiB document), and still only once per seq', async () => {
      const { store, open, backend, done } = await setup();
      try {
        // A keyframe names every chain head: a fleet of 10,000 validators
        // makes its body about 1 MB, whatever the store's item limit.
        const hex = (i: number) => i.toString(16).padStart(8, '0').repeat(8);
        const heads = Array.from({ length: 12_000 }, (_, i) => ({ chain: `fleet-validator-${String(i).padStart(5, '0')}`, seq: 1 + (i % 97), hash: hex(i) }));
        const signed = (c: ReturnType<typeof nextCheckpoint>, signature: string): SignedCheckpoint => ({ ...c, signature });
        const c1 = signed(nextCheckpoint(null, heads, t0, 180_000), 'sig1');
        expect(JSON.stringify(c1).length).toBeGreaterThan(1.1 * 1024 * 1024);
        const rival = signed(nextCheckpoint(null, heads.slice(1), t0, 180_000), 'rival');
        const other = await open();
        const landed = await Promise.all([store.putCheckpoint(c1), other.putCheckpoint(rival)]);
        expect(landed.filter(Boolean)).toHaveLength(1);
        const winner = landed[0] ? c1 : rival;
        expect(await (await open()).latestCheckpoint()).toEqual(winner);
        const c2 = signed(nextCheckpoint(winner, heads.slice(0, 3), t0 + 1000, 180_000), 'sig2');
        expect(await store.putCheckpoint(c2)).toBe(true);
        expect(await other.listCheckpoints(1, 10)).toEqual([winner, c2]);
        expect(await other.latestCheckpoint()).toEqual(c2);
        if (backend.dropCheckpointPart) {
          // A part gone is an error to report, never a shorter checkpoint.
          await backend.dropCheckpointPart(1);
          await expect(other.listCheckpoints(1, 10)).rejects.toBeInstanceOf(StoreError);
          expect(await other.listCheckpoints(2, 10)).toEqual([c2]);
        }
      } finally {
        await done();
      }
    });

    it('keeps the slashing history, genesis root and predecessor of a record exactly, at the largest the broker writes', async () => {
      const { store, open, done } = await setup();
      try {
        // The broker keeps one key's merged history: one block and one
        // attestation, whatever was uploaded, so a record stays far below any
        // item limit (DynamoDB 400 KB, Firestore 1 MiB, Vault's request size).
        const top = (1n << 64n) - 1n;
        const slashingProtection = writeInterchange({
          genesisValidatorsRoot: `0x${'ab'.repeat(32)}`,
          keys: new Map([[`0x${'cd'.repeat(48)}`, { blockSlot: top, sourceEpoch: top, targetEpoch: top }]]),
        });
        const r1 = { ...recordFor('v1'), genesisValidatorsRoot: `0x${'ab'.repeat(32)}` };
        await store.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t0, { details: { version: 1 } })] });
        const r2: ValidatorRecord = { ...moved(r1, t0 + 1), slashingProtection, predecessor: 'acknowledged', stoppedEpochs: [1, 2] };
        await store.commit({ record: { next: r2, expectedVersion: 1 }, entries: [draftFor('v1', t0 + 1, { details: { version: 2 } })] });
        const other = await open();
        expect(await other.getValidator('v1')).toEqual(r2);
        expect(await other.listValidators()).toEqual([r2]);
        expect(JSON.stringify(r2).length).toBeLessThan(2048);
      } finally {
        await done();
      }
    });

    it('records a one-time token id once, on every instance, until it expires', async () => {
      const { store, open, done } = await setup();
      try {
        const other = await open();
        const exp = t0 + 60_000;
        let n = 0;
        const fresh = () => `attempt-${++n}`;
        expect(await store.useTokenOnce('jti-a', exp, t0, 'first')).toBe(true);
        expect(await store.useTokenOnce('jti-a', exp, t0 + 1, fresh())).toBe(false);
        expect(await other.useTokenOnce('jti-a', exp, t0 + 59_999, fresh())).toBe(false);
        // The same attempt again (its answer was lost, the caller retried): it is still that attempt's.
        expect(await other.useTokenOnce('jti-a', exp, t0 + 2, 'first')).toBe(true);
        // Ids are independent, and differ by case.
        expect(await other.useTokenOnce('jti-b', exp, t0, fresh())).toBe(true);
        expect(await store.useTokenOnce('JTI-A', exp, t0, fresh())).toBe(true);
        // Once expired the id may be taken again (the verifier refuses the expired token itself), once.
        expect(await other.useTokenOnce('jti-a', exp + 60_000, exp, 'second')).toBe(true);
        expect(await store.useTokenOnce('jti-a', exp + 60_000, exp + 1, fresh())).toBe(false);
        expect(await store.useTokenOnce('jti-a', exp + 60_000, exp + 1, 'first')).toBe(false);
        // Nothing else in the store changed.
        expect(await store.chainHeads()).toEqual([]);
        expect(await store.listValidators()).toEqual([]);
        await expect(store.useTokenOnce('a/b', exp, t0, fresh())).rejects.toBeInstanceOf(TypeError);
        await expect(store.useTokenOnce('x'.repeat(129), exp, t0, fresh())).rejects.toBeInstanceOf(TypeError);
        await expect(store.useTokenOnce('jti-c', exp, t0, 'a b')).rejects.toBeInstanceOf(TypeError);
      } finally {
        await done();
      }
    });

    it(`lets exactly one of ${writers} instances racing one token id use it, fresh or expired`, async () => {
      const { open, done } = await setup();
      try {
        const stores = await Promise.all(Array.from({ length: writers }, () => open()));
        const fresh = await Promise.all(stores.map((s, i) => s.useTokenOnce('race', t0 + 60_000, t0, `w${i}`)));
        expect(fresh.filter(Boolean)).toHaveLength(1);
        const again = await Promise.all(stores.map((s, i) => s.useTokenOnce('race', t0 + 120_000, t0 + 60_000, `x${i}`)));
        expect(again.filter(Boolean)).toHaveLength(1);
      } finally {
        await done();
      }
    });

    it('reads many records in one call as getValidator reads each: absent ids left out, a repeated id once, past one batch of 100', async () => {
      const { store, backend, done } = await setup();
      try {
        expect(await store.getValidators([])).toEqual(new Map());
        const ids = Array.from({ length: 230 }, (_, i) => `b${String(i).padStart(3, '0')}`);
        // One in four present, in every batch of 100 the store may split the ids into.
        const present = ids.filter((_, i) => i % 4 === 1);
        await eachBounded(present, 8, (id) => store.commit({ record: { next: recordFor(id), expectedVersion: null }, entries: [draftFor(id, t0, { details: { version: 1 } })] }));
        // One record moved on: the batch answers the newest version, as a single read does.
        const r1 = (await store.getValidator(present[0]!))!;
        await store.commit({ record: { next: moved(r1, t0 + 1), expectedVersion: 1 }, entries: [draftFor(r1.id, t0 + 1, { details: { version: 2 } })] });
        const got = await store.getValidators([...ids, present[1]!, present[1]!, ids[0]!, 'nope']);
        expect([...got.keys()].sort()).toEqual(present);
        const one = await eachBounded(present, 8, (id) => store.getValidator(id));
        expect(present.map((id) => got.get(id))).toEqual(one);
        expect(got.get(r1.id)!.version).toBe(2);
        // A malformed record in the last batch fails the whole read: never an answer without it.
        await backend.corruptRecord(present.at(-1)!);
        await expect(store.getValidators(ids)).rejects.toBeInstanceOf(StoreError);
      } finally {
        await done();
      }
    });

    it('fails a batched read whose wire is cut after its first request, never answering fewer (skipped where the store has no wire)', async (ctx) => {
      const { backend, done } = await setup();
      try {
        if (!backend.cutAfter) return ctx.skip();
        const cut = await backend.cutAfter(1);
        try {
          await expect(cut.getValidators(Array.from({ length: 230 }, (_, i) => `c${i}`))).rejects.toBeInstanceOf(StoreError);
        } finally {
          await cut.close();
        }
      } finally {
        await done();
      }
    });

    it('treats a malformed stored record as a store error, never as data', async () => {
      const { store, backend, done } = await setup();
      try {
        await store.commit({ record: { next: recordFor('v1'), expectedVersion: null }, entries: [draftFor('v1', t0)] });
        await backend.corruptRecord('v1');
        const read = store.getValidator('v1');
        await expect(read).rejects.toBeInstanceOf(StoreError);
        await expect(read).rejects.not.toBeInstanceOf(StateConflictError);
        await expect(store.listValidators()).rejects.toBeInstanceOf(StoreError);
      } finally {
        await done();
      }
    });
  });
}
