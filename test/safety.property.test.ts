// Invariants 1-3 under random schedules: several broker instances with
// skewed clocks share one state store; reads are slow (the decision comes
// long after the read), commits race, the store goes down and comes back,
// pods restart, crash into zombies that keep acting, release, acknowledge
// and get promoted away. Each pod counts its grant's lifetime from the moment
// it *sent* the request, as the keeper does, and we check that no two pod
// instances ever hold at once.

import fc from 'fast-check';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBroker, type Broker } from '../src/compose';
import type { ValidatorRecord } from '../src/core/designation';
import { KeyholdError } from '../src/core/errors';
import type { Timing } from '../src/core/horizon';
import type { GrantSigner, IssuedGrant } from '../src/grants/signer';
import type { PodIdentity } from '../src/identity/pod-token';
import { memoryLogger } from '../src/log';
import { StoreUnavailableError, type Commit, type StateStore } from '../src/ports';
import { CachedKeyReader } from '../src/broker/key-cache';
import { ReplicatedKeyReader } from '../src/broker/key-reader';
import { SqliteKeyStore } from '../src/stores/sqlite/key-store';
import { FaultyKeyStore } from './support/faulty-stores';
import { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { ephemeralKeyPair, generatedKeyMaterial, testCluster, testOperator, testSigner } from './support/fixtures';

const safeTiming: Timing = { grantTtlMs: 30_000, outageToleranceMs: 30_000, maxClockSkewMs: 4_000 };
const slots = ['eu1/validators/v1-0', 'eu1/validators/v1-standby-0', 'eu1/validators/elsewhere-0'];
const allowed = slots.slice(0, 2);
const validator = 'v1';

interface World {
  t: number;
  down: boolean;
  scheduler: fc.Scheduler | null;
  /** Added to the world's time after the next state read returns: the read is stale by then. */
  readLag: number;
}

interface Pod {
  readonly uid: string;
  readonly slot: string;
  grant: IssuedGrant | null;
  /** Holding intervals in true time, [start, end). */
  readonly intervals: [number, number][];
}

/** A state store seen through a network: it can be down, slow, and its calls interleaved with another broker's. */
function networked(inner: StateStore, world: World): StateStore {
  const gate = async () => {
    if (world.scheduler) await world.scheduler.schedule(Promise.resolve());
    if (world.down) throw new StoreUnavailableError('sim', 'down');
  };
  return {
    name: 'sim',
    async getValidator(id) {
      await gate();
      const r = await inner.getValidator(id);
      world.t += world.readLag;
      await gate();
      return r;
    },
    async commit(c: Commit) {
      await gate();
      return inner.commit(c);
    },
    listValidators: () => inner.listValidators(),
    keyOwner: (k) => inner.keyOwner(k),
    queryLedger: (q) => inner.queryLedger(q),
    readChain: (c, f, l) => inner.readChain(c, f, l),
    chainHeads: () => inner.chainHeads(),
    putCheckpoint: (c) => inner.putCheckpoint(c),
    latestCheckpoint: () => inner.latestCheckpoint(),
    health: () => inner.health(),
    close: async () => {},
  };
}

type Cmd =
  | { k: 'fetch' | 'renew' | 'release' | 'ack'; pod: number; broker: number; lag: number }
  | { k: 'restart'; slot: number }
  | { k: 'promote'; slot: number; broker: number }
  | { k: 'tick'; ms: number }
  /** Time passes and every pod that believes it holds renews, as its keeper would. */
  | { k: 'keep'; ms: number; broker: number }
  | { k: 'outage'; down: boolean }
  | { k: 'keyOutage'; store: number; down: boolean }
  | { k: 'race'; a: Cmd; b: Cmd };

const brokerCount = 3;
// Pods are picked counting back from the newest, so restarts are followed up.
const podCmd = fc.record({
  k: fc.oneof({ weight: 4, arbitrary: fc.constant('fetch' as const) }, { weight: 3, arbitrary: fc.constant('renew' as const) }, { weight: 1, arbitrary: fc.constant('release' as const) }, { weight: 1, arbitrary: fc.constant('ack' as const) }),
  pod: fc.nat(4),
  broker: fc.nat(brokerCount - 1),
  lag: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 40_000 }) }),
});
const promoteCmd = fc.record({ k: fc.constant('promote' as const), slot: fc.nat(2), broker: fc.nat(brokerCount - 1) });
const simpleCmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 16, arbitrary: podCmd },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('keep' as const), ms: fc.integer({ min: 1, max: 12_000 }), broker: fc.nat(brokerCount - 1) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('restart' as const), slot: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(2) }) }) },
  { weight: 1, arbitrary: promoteCmd },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 15_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 15_000, max: 120_000 }) }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('outage' as const), down: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('keyOutage' as const), store: fc.nat(1), down: fc.boolean() }) },
);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: simpleCmd },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('race' as const), a: podCmd, b: fc.oneof({ weight: 4, arbitrary: podCmd }, { weight: 1, arbitrary: promoteCmd }) }) },
);

let ephemeral: JWK;
let signer: GrantSigner;
// One key for every run (each has its own stores): generating and checking a BLS key per run would only slow the search.
const material = generatedKeyMaterial().material;
beforeAll(async () => {
  ephemeral = (await ephemeralKeyPair()).publicJwk;
  signer = await testSigner();
});

async function simulate(timing: Timing, offsets: number[], cmds: Cmd[], scheduler: fc.Scheduler): Promise<void> {
  const world: World = { t: Date.UTC(2026, 0, 1), down: false, scheduler: null, readLag: 0 };
  const store = new SqliteStateStore(':memory:');
  const keyReplicas = [
    new FaultyKeyStore(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(7), () => world.t), 'primary'),
    new FaultyKeyStore(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(8), () => world.t), 'replica'),
  ];
  const cluster = await testCluster();
  const operator = await testOperator();
  const brokers: Broker[] = offsets.map((offset) =>
    buildBroker({
      state: networked(store, world),
      keyStores: keyReplicas,
      signer,
      clusters: [cluster.config],
      operatorKeys: [operator.key],
      timing,
      clock: { now: () => world.t + offset },
      logger: memoryLogger(),
      // Each instance has its own cache: stale copies on several brokers at once.
      keyReader: new CachedKeyReader(new ReplicatedKeyReader(keyReplicas), { now: () => world.t + offset }, { freshMs: 10_000, maxAgeMs: 60_000, maxEntries: 10 }),
    }),
  );
  await brokers[0]!.operations.importKey({ name: 'alice', role: 'operator' }, validator, { slots: allowed, serviceAccounts: ['validator'] }, material, null);

  const pods: Pod[] = [];
  let podSeq = 0;
  const newPod = (slot: string): Pod => {
    const p: Pod = { uid: `00000000-0000-4000-8000-${String(++podSeq).padStart(12, '0')}`, slot, grant: null, intervals: [] };
    pods.push(p);
    return p;
  };
  for (const s of slots) newPod(s);
  const identity = (p: Pod): PodIdentity => ({ cluster: 'eu1', namespace: 'validators', podName: p.slot.split('/')[2]!, podUid: p.uid, serviceAccount: 'validator', slot: p.slot });

  /** The holder stops: its current interval ends now, if it has not ended already. */
  const stop = (p: Pod) => {
    const last = p.intervals.at(-1);
    if (last && last[1] > world.t) last[1] = Math.max(last[0], world.t);
  };
  /** A grant obtained by a request sent at `sentAt`: held from now until sentAt + lifetime. */
  const hold = (p: Pod, g: IssuedGrant, sentAt: number) => {
    p.grant = g;
    const until = sentAt + (g.exp - g.iat) * 1000;
    const last = p.intervals.at(-1);
    if (last && last[1] >= world.t) last[1] = Math.max(last[1], until);
    else if (until > world.t) p.intervals.push([world.t, until]);
  };

  const fetchedJtis: string[] = [];
  const epochOwner = new Map<number, string>();
  let lastEpoch = 0;
  const checkRecord = (r: ValidatorRecord | null) => {
    if (!r) return;
    const d = r.designation;
    expect(d.epoch).toBeGreaterThanOrEqual(lastEpoch);
    lastEpoch = d.epoch;
    if (d.podUid !== null) {
      const owner = epochOwner.get(d.epoch);
      // One epoch names exactly one pod instance.
      if (owner !== undefined) expect(owner).toBe(d.podUid);
      epochOwner.set(d.epoch, d.podUid);
    }
  };

  // Every answer that is a decision must leave exactly one ledger entry:
  // all but unauthenticated grants, store outages, lost races and no-ops.
  let decisions = 0;
  const unrecorded = new Set(['invalid_grant', 'state_store_unavailable', 'conflict']);
  const swallow = (e: unknown) => {
    if (!(e instanceof KeyholdError)) throw e;
    if (!unrecorded.has(e.code)) decisions += 1;
    return e;
  };
  const decided = <T>(r: T): T => {
    if (!(r instanceof KeyholdError)) decisions += 1;
    return r;
  };

  const run = async (c: Cmd): Promise<void> => {
    switch (c.k) {
      case 'tick':
        world.t += c.ms;
        return;
      case 'outage':
        world.down = c.down;
        return;
      case 'keyOutage':
        keyReplicas[c.store]!.mode = c.down ? 'down' : 'ok';
        return;
      case 'restart':
        newPod(slots[c.slot]!);
        return;
      case 'promote':
        decided(await brokers[c.broker]!.operations.promote({ name: 'alice', role: 'operator' }, validator, slots[c.slot]!, 'test').catch(swallow));
        return;
      case 'keep': {
        world.t += c.ms;
        const holders = pods.filter((p) => p.grant && (p.intervals.at(-1)?.[1] ?? 0) > world.t);
        for (const p of holders) await run({ k: 'renew', pod: pods.length - 1 - pods.indexOf(p), broker: c.broker, lag: 0 });
        return;
      }
      case 'race':
        return;
    }
    const p = pods[pods.length - 1 - (c.pod % pods.length)]!;
    const b = brokers[c.broker]!;
    const sentAt = world.t;
    world.readLag = c.lag;
    try {
      if (c.k === 'fetch') {
        const r = decided(await b.grants.fetch(identity(p), validator, ephemeral as never).catch(swallow));
        if (!(r instanceof KeyholdError)) {
          fetchedJtis.push(r.grant.jti);
          hold(p, r.grant, sentAt);
        }
      } else if (c.k === 'renew') {
        if (!p.grant) return;
        const r = await b.grants.renew(identity(p), p.grant.token).catch(swallow);
        if (r instanceof KeyholdError) {
          // a refused renewal was counted by swallow; a successful one writes nothing
          if (r.code === 'stale_epoch' || r.code === 'invalid_grant') stop(p);
        } else hold(p, r.grant, sentAt);
      } else {
        // Release and acknowledgement come only after the holder has stopped and wiped.
        if (!p.grant) return;
        stop(p);
        const r = await b.grants.release(identity(p), p.grant.token, null, 'proven').catch(swallow);
        if (!(r instanceof KeyholdError) && r.outcome !== 'already_released') decisions += 1;
      }
    } finally {
      world.readLag = 0;
    }
  };

  for (const c of cmds) {
    if (c.k === 'race') {
      world.scheduler = scheduler;
      await scheduler.waitFor(Promise.all([run(c.a), run(c.b)]));
      world.scheduler = null;
    } else {
      await run(c);
    }
    checkRecord(await store.getValidator(validator));
  }

  if (process.env.SIM_STATS) {
    const ledger = await store.readChain(validator, 1, 100_000);
    const count = (a: string) => ledger.filter((e) => e.action === a).length;
    console.log(JSON.stringify({ issued: count('grant_issued'), reissued: count('grant_reissued'), takeover: count('takeover'), released: count('released'), ack: count('fenced_ack'), promoted: count('promoted'), denied: count('denied'), renewRefused: count('renew_refused'), pods: pods.length, intervals: pods.reduce((n, p) => n + p.intervals.length, 0) }));
  }
  // Invariant 1: intervals of different pod instances never overlap.
  const all = pods.flatMap((p) => p.intervals.filter(([s, e]) => e > s).map(([s, e]) => ({ uid: p.uid, s, e })));
  for (const a of all) {
    for (const b of all) {
      if (a.uid !== b.uid && a.s < b.e && b.s < a.e) {
        throw new Error(`two holders: ${a.uid} [${a.s}, ${a.e}) and ${b.uid} [${b.s}, ${b.e})`);
      }
    }
  }
  // Invariant 5: every grant a pod received was ledgered, and the chain verifies.
  const chain = await store.readChain(validator, 1, 100_000);
  const bookkeeping = new Set(['key_imported', 'store_fallback', 'cache_served']);
  expect(chain.filter((e) => !bookkeeping.has(e.action)).length).toBe(decisions);
  const ledgered = new Set(chain.map((e) => e.details.jti));
  for (const jti of fetchedJtis) expect(ledgered.has(jti)).toBe(true);
  const report = await brokers[0]!.operations.verify();
  expect(report.problem).toBeNull();
  await store.close();
  await Promise.all(keyReplicas.map((k) => k.close()));
}

describe('safety under random schedules', () => {
  it('never admits two pod instances at once, and epochs only rise', async () => {
    const skew = fc.integer({ min: -safeTiming.maxClockSkewMs / 2, max: safeTiming.maxClockSkewMs / 2 });
    await fc.assert(
      fc.asyncProperty(fc.array(skew, { minLength: brokerCount, maxLength: brokerCount }), fc.array(cmd, { minLength: 10, maxLength: 60 }), fc.scheduler(), (offsets, cmds, s) =>
        simulate(safeTiming, offsets, cmds, s),
      ),
      { numRuns: 100 },
    );
  }, 180_000);

  it('finds the double holder when the takeover wait is removed (the property can fail)', async () => {
    // A skew term of -H cancels the takeover wait: a restarted pod is admitted
    // at once while the old one still holds a grant. Lifetimes stay as they were.
    const broken: Timing = { ...safeTiming, maxClockSkewMs: -(safeTiming.grantTtlMs + safeTiming.outageToleranceMs) };
    const result = await fc.check(
      fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 30 }), fc.scheduler(), (cmds, s) => simulate(broken, [0, 0, 0], cmds, s)),
      // The first counterexample is proof enough; shrinking it only costs time.
      { numRuns: 300, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toContain('two holders');
  }, 120_000);
});
