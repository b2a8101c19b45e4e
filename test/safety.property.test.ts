// Invariants 1-3 under random schedules: several broker instances with
// skewed clocks share one state store; reads are slow (the decision comes
// long after the read), commits race, the store goes down and comes back,
// pods restart, crash into zombies that keep acting, release, acknowledge
// and get promoted away. A commit's outcome can be unknown to its broker: it
// lands at any time up to its deadline C after the broker has answered 503,
// or it is held by a frozen function and sent (if its deadline still allows)
// much later, or it lands and only its answer is lost. Each pod counts its
// grant's lifetime from the moment it *sent* the request, as the keeper does,
// and we check that no two pod instances ever hold at once.

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
import { StateConflictError, StoreUnavailableError, type Commit, type StateStore } from '../src/ports';
import { CachedKeyReader } from '../src/broker/key-cache';
import { ReplicatedKeyReader } from '../src/broker/key-reader';
import { SqliteKeyStore } from '../src/stores/sqlite/key-store';
import { FaultyKeyStore } from './support/faulty-stores';
import { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { ephemeralKeyPair, generatedKeyMaterial, testCluster, testGenesisRoot, testOperator, testSigner, type TestCluster, type TestOperator } from './support/fixtures';
import { interchangeOf, keepsWatermarks, watermarks, type Interchange, type Marks } from './support/interchange';

// C well above outageTolerance + skew, so that a control run without the C
// term can fail without an outage at just the right moment.
const safeTiming: Timing = { grantTtlMs: 30_000, outageToleranceMs: 30_000, maxClockSkewMs: 4_000, commitDeadlineMs: 90_000, commitSendWindowMs: 5_000 };
/** How long after it was sent the modelled store may still apply a commit: C less the send window. */
const landingBoundMs = safeTiming.commitDeadlineMs - safeTiming.commitSendWindowMs;
/** fast-check runs of the main property; `npm run prove` sets 10,000. */
const propertyRuns = ((): number => {
  const raw = process.env.KEYHOLD_PROPERTY_RUNS;
  if (raw === undefined || raw === '') return 100;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`KEYHOLD_PROPERTY_RUNS must be a positive whole number, got "${raw}"`);
  return n;
})();
const slots = ['eu1/validators/v1-0', 'eu1/validators/v1-standby-0', 'eu1/validators/elsewhere-0'];
const allowed = slots.slice(0, 2);
const validator = 'v1';

/** What the network does to the next designation commit of a command. */
type Net =
  | { k: 'ok' }
  /** Sent, answered with a timeout, applied by the store `delay` ms later (within its bound). */
  | { k: 'late'; delay: number }
  /** Held by a frozen function: sent `delay` ms later, if its send deadline still allows. */
  | { k: 'frozen'; delay: number }
  /** Applied at once; the answer is lost. */
  | { k: 'answerLost' };

interface InFlight {
  readonly commit: Commit;
  readonly at: number;
  readonly sent: boolean;
  /** The top-level command that made it: it lands only in a later one, after its broker has answered. */
  readonly cmd: number;
}

interface World {
  t: number;
  down: boolean;
  scheduler: fc.Scheduler | null;
  /** Added to the world's time after the next state read returns: the read is stale by then. */
  readLag: number;
  /** For the current command's next designation commit. */
  net: Net;
  inFlight: InFlight[];
  cmd: number;
  /** Decisions that landed after their broker answered 503: each is a ledger entry nobody was told of. */
  landedLate: number;
}

const bookkeeping = new Set(['key_imported', 'store_fallback', 'cache_served']);

/** Apply every in-flight commit that is due; a frozen one is sent only if its deadline still allows. */
async function landDue(world: World, inner: StateStore): Promise<void> {
  const due = world.inFlight.filter((f) => f.at <= world.t && f.cmd < world.cmd).sort((a, b) => a.at - b.at);
  world.inFlight = world.inFlight.filter((f) => !due.includes(f));
  for (const f of due) {
    const d = f.commit.deadline;
    if (!f.sent && d && d.clock.now() >= d.sendBy) continue;
    try {
      // On the wire: the store applies what was sent, whatever the sender's clock says now.
      await inner.commit({ entries: f.commit.entries, ...(f.commit.record ? { record: f.commit.record } : {}) });
      world.landedLate += f.commit.entries.filter((e) => !bookkeeping.has(e.action)).length;
    } catch (e) {
      // A late compare-and-swap that lost simply does not land.
      if (!(e instanceof StateConflictError)) throw e;
    }
  }
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
    // The store applies what is in flight whether or not the broker can reach it.
    await landDue(world, inner);
    if (world.down) throw new StoreUnavailableError('sim', 'down');
  };
  /** A designation read: it takes `readLag` of simulated time, and the store may go down while it is answered. */
  const lagged = async <T>(read: () => Promise<T>): Promise<T> => {
    await gate();
    const r = await read();
    world.t += world.readLag;
    await gate();
    return r;
  };
  return {
    name: 'sim',
    getValidator: (id) => lagged(() => inner.getValidator(id)),
    async commit(c: Commit) {
      await gate();
      const net = world.net;
      if (!c.record || net.k === 'ok') return inner.commit(c);
      world.net = { k: 'ok' };
      if (net.k === 'answerLost') {
        await inner.commit(c);
        throw new StoreUnavailableError('sim', 'answer lost');
      }
      world.inFlight.push({ commit: c, at: world.t + net.delay, sent: net.k === 'late', cmd: world.cmd });
      throw new StoreUnavailableError('sim', 'timeout');
    },
    getValidators: (ids) => lagged(() => inner.getValidators(ids)),
    listValidators: () => inner.listValidators(),
    keyOwner: (k) => inner.keyOwner(k),
    queryLedger: (q) => inner.queryLedger(q),
    readChain: (c, f, l) => inner.readChain(c, f, l),
    chainHeads: () => inner.chainHeads(),
    putCheckpoint: (c) => inner.putCheckpoint(c),
    latestCheckpoint: () => inner.latestCheckpoint(),
    listCheckpoints: (f, l) => inner.listCheckpoints(f, l),
    useTokenOnce: (id, e, n, a) => inner.useTokenOnce(id, e, n, a),
    health: () => inner.health(),
    close: async () => {},
  };
}

type Cmd =
  | { k: 'fetch' | 'renew' | 'release' | 'ack'; pod: number; broker: number; lag: number; net: Net }
  | { k: 'restart'; slot: number }
  | { k: 'promote'; slot: number; broker: number; net: Net }
  | { k: 'tick'; ms: number }
  /** Time passes and every pod that believes it holds renews, as its keeper would. */
  | { k: 'keep'; ms: number; broker: number }
  | { k: 'outage'; down: boolean }
  | { k: 'keyOutage'; store: number; down: boolean }
  | { k: 'race'; a: Cmd; b: Cmd };

const brokerCount = 3;
// Pods are picked counting back from the newest, so restarts are followed up.
const netArb: fc.Arbitrary<Net> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ k: 'ok' as const }) },
  // Late landings are weighted toward the bound: that is where the wait is tested.
  { weight: 2, arbitrary: fc.record({ k: fc.constant('late' as const), delay: fc.oneof(fc.constant(landingBoundMs), fc.integer({ min: 1, max: landingBoundMs })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('frozen' as const), delay: fc.integer({ min: 1, max: 120_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'answerLost' as const }) },
);
const podCmd = fc.record({
  k: fc.oneof({ weight: 4, arbitrary: fc.constant('fetch' as const) }, { weight: 3, arbitrary: fc.constant('renew' as const) }, { weight: 1, arbitrary: fc.constant('release' as const) }, { weight: 1, arbitrary: fc.constant('ack' as const) }),
  pod: fc.nat(4),
  broker: fc.nat(brokerCount - 1),
  lag: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 40_000 }) }),
  net: netArb,
});
const promoteCmd = fc.record({ k: fc.constant('promote' as const), slot: fc.nat(2), broker: fc.nat(brokerCount - 1), net: netArb });
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
// Made once: generating their keys would cost each run more than the run
// itself; one key for every run (each has its own stores), since checking a
// BLS key per run would only slow the search.
const material = generatedKeyMaterial().material;
let cluster: TestCluster;
let operator: TestOperator;
beforeAll(async () => {
  ephemeral = (await ephemeralKeyPair()).publicJwk;
  signer = await testSigner();
  cluster = await testCluster();
  operator = await testOperator();
});

async function simulate(timing: Timing, offsets: number[], cmds: Cmd[], scheduler: fc.Scheduler): Promise<void> {
  const world: World = { t: Date.UTC(2026, 0, 1), down: false, scheduler: null, readLag: 0, net: { k: 'ok' }, inFlight: [], cmd: 0, landedLate: 0 };
  const store = new SqliteStateStore(':memory:');
  const keyReplicas = [
    new FaultyKeyStore(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(7), () => world.t), 'primary'),
    new FaultyKeyStore(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(8), () => world.t), 'replica'),
  ];
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
  const key = { material, publicId: material.publicId };
  await brokers[0]!.operations.importKey({ name: 'alice', role: 'operator', principals: ['name:alice'] }, validator, { slots: allowed, serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot }, material, null);
  /**
   * What a stopping pod hands back: a history by its own clock (a zombie's
   * may be older than what the broker holds), so the merge is raced and
   * reordered by the schedule like everything else.
   */
  const historyAt = (t: number): Interchange => {
    const slot = Math.floor((t - Date.UTC(2026, 0, 1)) / 12_000);
    const epoch = Math.floor(slot / 32);
    return interchangeOf(testGenesisRoot, [{ pubkey: key.publicId, signed_blocks: [{ slot: String(slot) }], signed_attestations: [{ source_epoch: String(Math.max(0, epoch - 1)), target_epoch: String(epoch) }] }]);
  };

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
  let lastMarks = new Map<string, Marks>();
  let lastHistory: string | null = null;
  const checkRecord = (r: ValidatorRecord | null) => {
    if (!r) return;
    // Invariant 7: the history held only grows.
    if (r.slashingProtection !== lastHistory) {
      const marks = r.slashingProtection === null ? new Map<string, Marks>() : watermarks(JSON.parse(r.slashingProtection) as Interchange);
      expect(keepsWatermarks(marks, lastMarks)).toBeNull();
      lastMarks = marks;
      lastHistory = r.slashingProtection;
    }
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
        world.net = c.net;
        try {
          decided(await brokers[c.broker]!.operations.promote({ name: 'alice', role: 'operator', principals: ['name:alice'] }, validator, slots[c.slot]!, 'test').catch(swallow));
        } finally {
          world.net = { k: 'ok' };
        }
        return;
      case 'keep': {
        world.t += c.ms;
        const holders = pods.filter((p) => p.grant && (p.intervals.at(-1)?.[1] ?? 0) > world.t);
        for (const p of holders) await run({ k: 'renew', pod: pods.length - 1 - pods.indexOf(p), broker: c.broker, lag: 0, net: { k: 'ok' } });
        return;
      }
      case 'race':
        return;
    }
    const p = pods[pods.length - 1 - (c.pod % pods.length)]!;
    const b = brokers[c.broker]!;
    const sentAt = world.t;
    world.readLag = c.lag;
    world.net = c.net;
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
        const r = await b.grants.release(identity(p), p.grant.token, historyAt(sentAt - c.lag), 'proven').catch(swallow);
        // A repeated word changes nothing and is not a decision.
        if (!(r instanceof KeyholdError) && r.outcome !== 'already_released' && r.outcome !== 'already_acknowledged') decisions += 1;
      }
    } finally {
      world.readLag = 0;
      world.net = { k: 'ok' };
    }
  };

  for (const c of cmds) {
    world.cmd += 1;
    if (c.k === 'race') {
      world.scheduler = scheduler;
      await scheduler.waitFor(Promise.all([run(c.a), run(c.b)]));
      world.scheduler = null;
    } else {
      await run(c);
    }
    await landDue(world, store);
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
  expect(chain.filter((e) => !bookkeeping.has(e.action)).length).toBe(decisions + world.landedLate);
  const ledgered = new Set(chain.map((e) => e.details.jti));
  for (const jti of fetchedJtis) expect(ledgered.has(jti)).toBe(true);
  // The schedule's timer, which a server runs between requests: without it the
  // last entries of a run that ends in a long quiet spell stay uncovered.
  await brokers[0]!.checkpointer.ifDue();
  const report = await brokers[0]!.operations.verify();
  expect(report.problem).toBeNull();
  await store.close();
  await Promise.all(keyReplicas.map((k) => k.close()));
}

/**
 * Random schedules rarely line up a late takeover with the renewals around
 * it, so these start from one: the first pod holds, restarts, and its
 * successor's takeover lands late; then random time, renewals and fetches,
 * checked as every run is.
 */
const keepArb = fc.record({ k: fc.constant('keep' as const), ms: fc.integer({ min: 1, max: 12_000 }), broker: fc.nat(brokerCount - 1) });
const tickArb = fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 15_000 }) });
const fetchNewest = fc.record({ k: fc.constant('fetch' as const), pod: fc.constant(0), broker: fc.nat(brokerCount - 1), lag: fc.constant(0), net: fc.constant({ k: 'ok' as const }) });
const lateTakeover = fc
  .tuple(
    fc.oneof(fc.constant(landingBoundMs), fc.integer({ min: 1, max: landingBoundMs })),
    // The old holder keeps renewing while the takeover is in flight, then time passes and the newcomer asks again.
    fc.array(keepArb, { minLength: 4, maxLength: 12 }),
    tickArb,
    fc.array(fc.oneof({ weight: 4, arbitrary: keepArb }, { weight: 2, arbitrary: tickArb }, { weight: 1, arbitrary: fetchNewest }), { maxLength: 10 }),
  )
  .map(([delay, renewing, pause, rest]): Cmd[] => [
    { k: 'fetch', pod: 2, broker: 0, lag: 0, net: { k: 'ok' } },
    { k: 'restart', slot: 0 },
    { k: 'fetch', pod: 0, broker: 1, lag: 0, net: { k: 'late', delay } },
    ...renewing,
    pause,
    { k: 'fetch', pod: 0, broker: 2, lag: 0, net: { k: 'ok' } },
    ...rest,
  ]);

/**
 * A holder, its restart and the successor's fetch, then random commands: the
 * schedule a takeover wait exists for, so a control without the wait finds
 * its double holder every run rather than by chance (300 purely random
 * schedules sometimes missed it).
 */
const takeoverFirst = fc.array(cmd, { maxLength: 25 }).map((rest): Cmd[] => [
  { k: 'fetch', pod: 2, broker: 0, lag: 0, net: { k: 'ok' } },
  { k: 'restart', slot: 0 },
  { k: 'fetch', pod: 0, broker: 1, lag: 0, net: { k: 'ok' } },
  ...rest,
]);

describe('safety under random schedules', () => {
  // Found by the property on a change that signed and encrypted a grant while
  // its commit was in flight (reverted): the ledger then held one decision
  // fewer than the pods were answered. Replayed exactly, so it cannot pass by luck.
  it('replays the schedule that caught a grant answered without its ledger entry', async () => {
    const skew = fc.integer({ min: -safeTiming.maxClockSkewMs / 2, max: safeTiming.maxClockSkewMs / 2 });
    await fc.assert(
      fc.asyncProperty(fc.array(skew, { minLength: brokerCount, maxLength: brokerCount }), fc.array(cmd, { minLength: 10, maxLength: 60 }), fc.scheduler(), (offsets, cmds, s) =>
        simulate(safeTiming, offsets, cmds, s),
      ),
      { seed: 1105361032, path: '77:0:0:0:0:0:0:0:1:1:1:3:3:3:2:0:3:3:0:0:0:0:0:0:0:0:0:1:0:1:4:0:0:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:9:0:0:0:0:0:11:1:1:0:0:0:0', endOnFailure: true },
    );
  });

  it(`never admits two pod instances at once, and epochs only rise (${propertyRuns} runs)`, async () => {
    const skew = fc.integer({ min: -safeTiming.maxClockSkewMs / 2, max: safeTiming.maxClockSkewMs / 2 });
    await fc.assert(
      fc.asyncProperty(fc.array(skew, { minLength: brokerCount, maxLength: brokerCount }), fc.array(cmd, { minLength: 10, maxLength: 60 }), fc.scheduler(), (offsets, cmds, s) =>
        simulate(safeTiming, offsets, cmds, s),
      ),
      { numRuns: propertyRuns },
    );
  }, Math.max(180_000, propertyRuns * 3_000));

  it('never admits two pod instances when a takeover lands at any time up to its deadline', async () => {
    await fc.assert(
      fc.asyncProperty(lateTakeover, fc.scheduler(), (cmds, s) => simulate(safeTiming, [0, 0, 0], cmds, s)),
      { numRuns: propertyRuns },
    );
  }, Math.max(120_000, propertyRuns * 2_000));

  /** The property must be able to fail: with a term of the wait removed, it finds two holders. */
  async function findsDoubleHolder(broken: Timing, schedules: fc.Arbitrary<Cmd[]>): Promise<void> {
    const result = await fc.check(
      fc.asyncProperty(schedules, fc.scheduler(), (cmds, s) => simulate(broken, [0, 0, 0], cmds, s)),
      // The first counterexample is proof enough; shrinking it only costs time.
      { numRuns: 300, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toContain('two holders');
  }

  it('finds the double holder when the takeover wait is removed (the property can fail)', async () => {
    // A skew term of -(C + H) cancels the whole takeover wait: a restarted pod
    // is admitted at once while the old one still holds a grant. Lifetimes stay as they were.
    await findsDoubleHolder({ ...safeTiming, maxClockSkewMs: -(safeTiming.commitDeadlineMs + safeTiming.grantTtlMs + safeTiming.outageToleranceMs) }, takeoverFirst);
  }, 120_000);

  it('finds the double holder when only the commit deadline is left out of the wait', async () => {
    // notBefore = D + H + skew, counted from the decision: a takeover that
    // lands late lets the old holder renew past the newcomer's admission.
    await findsDoubleHolder({ ...safeTiming, maxClockSkewMs: safeTiming.maxClockSkewMs - safeTiming.commitDeadlineMs }, lateTakeover);
  }, 120_000);
});
