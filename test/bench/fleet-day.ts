// What one validator costs the stores over a day, counted at the adapters on
// a shortened clock: a held validator (one fetch, then a renewal every
// grantTtl / 3, as the keeper does), a standby pod (a fetch every
// KEYHOLD_STANDBY_RETRY_SECONDS, the broker's Retry-After, answered
// not_designated, as the fetch hook does), and one planned promotion
// (promote, the promoted pod's fetch waiting, the old holder's
// acknowledgement, the grant). Held and standby are counted for a pod of one
// key and for a pod of `keysPerPod` keys (one list request per renewal or
// poll, as the keeper and fetch hook send with KEYHOLD_VALIDATORS), and given
// per validator. The broker is built with the production timing, refusal,
// read-reuse and fetch-wait settings; the stores are the real SQLite adapters
// behind counting proxies, so every call the broker makes is seen. The calls
// go through the broker's HTTP app with real pod tokens, as a pod sends them
// (pod-token verification, body parsing and the answer are in the measured
// time), one request per function invocation.

import type { Commit, KeyStore, StateStore } from '../../src/ports';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { parseConfig } from '../../src/config';
import { testBroker, type TestBroker } from '../support/fixtures';
import { importValidator, pod, podHeaders, promote, slot0, slot1, type TestPod } from '../http/helpers';
import { progress, round } from './report';
import { assumptions, aws, gcp } from './prices';
import { defaultSchedule, maxLagFor, nextCheckpoint } from '../../src/core/checkpoints';
import { sha256Hex } from '../../src/core/ledger';
import { encodeCheckpoint } from '../../src/stores/ledger-codec';

/** Store calls and ledger entries of one scenario. */
// A type, not an interface, so it is a figure (a record of numbers) as it stands.
export type DayCounts = {
  readonly invocations: number;
  readonly key_reads: number;
  readonly state_reads: number;
  /** Commits (one transaction each). */
  readonly state_commits: number;
  /** Items those transactions wrote: designation records plus ledger entries. */
  readonly state_items_written: number;
  readonly ledger_entries: number;
  /** Mean in-process time of one invocation, ms, on this machine's full core. */
  readonly mean_invocation_ms: number;
  /** Mean sequential store round trips of one invocation, counted per invocation (a list works `width` validators at once). */
  readonly store_round_trips_per_invocation: number;
  /**
   * Mean billed time of one invocation on each cloud, ms: per invocation,
   * prices.ts's assumed time per sequential store round trip it made, plus
   * its in-process time scaled to the function's CPU share, rounded up to the
   * cloud's billing step.
   */
  readonly billed_ms_per_invocation_aws: number;
  readonly billed_ms_per_invocation_gcp: number;
  /** Time requests were held waiting for a designation change (billed as duration), ms. */
  readonly held_ms: number;
};

const keyReads: ReadonlySet<string> = new Set<keyof KeyStore>(['get', 'list']);
const stateReads: ReadonlySet<string> = new Set<keyof StateStore>(['getValidator', 'getValidators', 'listValidators', 'keyOwner', 'readChain', 'chainHeads', 'latestCheckpoint', 'queryLedger']);

interface Tally {
  key: number;
  read: number;
  commits: number;
  items: number;
}

/** A proxy that tells `onCall` of every method call before making it. */
export function countingCalls<T extends object>(target: T, onCall: (name: string, args: unknown[]) => void): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        onCall(String(prop), args);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** The production defaults, from the same schema `npm start` parses. */
function productionSettings() {
  const c = parseConfig({ KEYHOLD_HOME: '/nonexistent' });
  return { timing: c.timing, refusalSummaryMs: c.refusalSummaryMs, standbyRetryMs: c.standbyRetrySeconds * 1000, readReuseMs: c.readReuseMs, fetchWaitMaxMs: c.fetchWaitMaxMs };
}

/** Keys per validator client pod in the many-keys count: operators run hundreds per client (issue 13). */
export const keysPerPod = 100;
const dayMs = 24 * 3600_000;
/** How many of a list request's validators the broker works on at once (grant-batch.ts): each width is one sequential store round trip. */
const renewWidth = 16;
const fetchWidth = 4;

interface Harness {
  readonly b: TestBroker;
  readonly tally: Tally;
  readonly validators: readonly string[];
  readonly settings: ReturnType<typeof productionSettings>;
}

async function harness(keys = 1): Promise<Harness> {
  const tally: Tally = { key: 0, read: 0, commits: 0, items: 0 };
  const state = countingCalls<StateStore>(new SqliteStateStore(':memory:'), (name, args) => {
    // A batched read is billed per item (DynamoDB) or document (Firestore), so it counts as one read per id.
    if (name === 'getValidators') tally.read += new Set(args[0] as readonly string[]).size;
    else if (stateReads.has(name)) tally.read += 1;
    if (name === 'commit') {
      const c = args[0] as Commit;
      tally.commits += 1;
      tally.items += c.entries.length + (c.record ? 1 : 0);
    }
    if (name === 'putCheckpoint') {
      tally.commits += 1;
      tally.items += 1;
    }
  });
  const keyStore = countingCalls<KeyStore>(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(7)), (name) => {
    if (keyReads.has(name)) tally.key += 1;
  });
  const s = productionSettings();
  const b = await testBroker({
    state,
    keyStores: [keyStore],
    timing: s.timing,
    refusals: { summaryMs: s.refusalSummaryMs, maxWindows: 10_000 },
    standbyRetryAfter: s.standbyRetryMs / 1000,
    readReuseMs: s.readReuseMs,
    fetchWait: { maxWaitMs: Math.min(s.fetchWaitMaxMs, s.timing.grantTtlMs / 4), pollMs: 250, maxWaiters: 10_000 },
  });
  const validators = Array.from({ length: keys }, (_, i) => `v${i + 1}`);
  for (const v of validators) await importValidator(b, v, [slot0, slot1]);
  return { b, tally, validators, settings: s };
}

async function ledgerSize(b: TestBroker): Promise<number> {
  return (await b.parts.state.chainHeads()).reduce((n, h) => n + h.seq, 0);
}

/** One invocation as billed: its sequential store round trips and its in-process time. */
export interface Invocation {
  readonly roundTrips: number;
  readonly ms: number;
}

/** Sequential store round trips of one invocation that made these calls, `width` at a time. */
export const roundTripsOf = (calls: { read: number; commits: number; key: number }, width: number): number =>
  Math.ceil(calls.read / width) + Math.ceil(calls.commits / width) + Math.ceil(calls.key / width);

/** Mean billed ms of these invocations on a cloud whose function has `vcpu` of a core and bills in `stepMs` steps. */
export function meanBilledMs(invocations: readonly Invocation[], vcpu: number, stepMs: number): number {
  if (invocations.length === 0) return 0;
  const total = invocations.reduce((n, i) => n + Math.ceil((assumptions.billedMsPerInvocation * i.roundTrips + i.ms / vcpu) / stepMs) * stepMs, 0);
  return total / invocations.length;
}

/**
 * Count what `run` costs, per validator of the pod; `run` returns its
 * invocations (round trips and time each) and how long the broker held them
 * waiting, which is billed as held time, not as invocation time.
 */
async function measure(h: Harness, run: () => Promise<{ invocations: readonly Invocation[]; heldMs?: number }>): Promise<DayCounts> {
  // The tallies are taken between the bench's own chainHeads reads, which do not count.
  const ledgerBefore = await ledgerSize(h.b);
  const before2 = { ...h.tally };
  const { invocations, heldMs = 0 } = await run();
  const after = { ...h.tally };
  const ledgerAfter = await ledgerSize(h.b);
  const per = h.validators.length;
  const n = invocations.length;
  const mean = (f: (i: Invocation) => number) => (n > 0 ? invocations.reduce((t, i) => t + f(i), 0) / n : 0);
  return {
    invocations: round(n / per, 3),
    key_reads: round((after.key - before2.key) / per, 3),
    state_reads: round((after.read - before2.read) / per, 3),
    state_commits: round((after.commits - before2.commits) / per, 3),
    state_items_written: round((after.items - before2.items) / per, 3),
    ledger_entries: round((ledgerAfter - ledgerBefore) / per, 3),
    mean_invocation_ms: round(mean((i) => i.ms), 3),
    store_round_trips_per_invocation: round(mean((i) => i.roundTrips), 3),
    billed_ms_per_invocation_aws: round(meanBilledMs(invocations, assumptions.lambdaVcpu, aws.lambdaBillingStepMs), 1),
    billed_ms_per_invocation_gcp: round(meanBilledMs(invocations, assumptions.gcpVcpu, gcp.functionsBillingStepMs), 1),
    held_ms: round(heldMs / per, 0),
  };
}

/**
 * One invocation every `everyMs` of clock for a day, each with the round
 * trips it made (`width` validators at a time) and its time. `prepare` does
 * what the pod does before sending (minting its token), outside the timer.
 */
async function aDayOf(h: Harness, everyMs: number, width: number, prepare: (n: number) => Promise<() => Promise<void>>): Promise<{ invocations: Invocation[] }> {
  const invocations: Invocation[] = [];
  for (let t = 0, n = 0; t < dayMs; t += everyMs, n++) {
    h.b.clock.advance(everyMs);
    const call = await prepare(n);
    const before = { ...h.tally };
    const start = performance.now();
    await call();
    const ms = performance.now() - start;
    const calls = { read: h.tally.read - before.read, commits: h.tally.commits - before.commits, key: h.tally.key - before.key };
    invocations.push({ roundTrips: roundTripsOf(calls, width), ms });
  }
  return { invocations };
}

/** A pod's request to the broker's HTTP app with a fresh pod token (minted before the timer starts, as the pod does). */
async function podRequest(h: Harness, p: TestPod, path: string, body: unknown): Promise<() => Promise<{ status: number; json: unknown }>> {
  const init = { method: 'POST', headers: await podHeaders(h.b, p), body: JSON.stringify(body) };
  return async () => {
    const res = await h.b.app.request(path, init);
    return { status: res.status, json: await res.json() };
  };
}

type Answer = { outcome?: string; grant?: string; code?: string };
/** The grant tokens of a single or a list answer, or an error naming the first refusal. */
function grantsOf(what: string, a: { status: number; json: unknown }, list: boolean): string[] {
  const answers: Answer[] = list ? ((a.json as { results?: Answer[] }).results ?? []) : [a.json as Answer];
  const refused = answers.find((x) => typeof x.grant !== 'string');
  if (a.status >= 300 || refused || answers.length === 0) throw new Error(`${what}: ${a.status} ${refused?.code ?? JSON.stringify(a.json).slice(0, 200)}`);
  return answers.map((x) => x.grant!);
}

/** A held pod's day: its fetch happened before; a renewal of all its keys every grantTtl / 3, over HTTP. */
async function heldDay(keys: number): Promise<DayCounts> {
  const h = await harness(keys);
  try {
    const p = await pod(slot0);
    const list = keys > 1;
    const fetch = await podRequest(h, p, '/v1/grants', list ? { validators: h.validators, ephemeralKey: p.publicJwk } : { validator: h.validators[0], ephemeralKey: p.publicJwk });
    let grants = grantsOf('held fetch', await fetch(), list);
    const every = h.b.parts.timing.grantTtlMs / 3;
    return await measure(h, () =>
      aDayOf(
        h,
        every,
        list ? renewWidth : 1,
        async () => {
          const send = await podRequest(h, p, '/v1/grants/renew', list ? { grants } : { grant: grants[0] });
          return async () => {
            grants = grantsOf('renewal', await send(), list);
          };
        },
      ),
    );
  } finally {
    await h.b.close();
  }
}

/** A standby pod's day: a fetch of all its keys every standby Retry-After, each refused not_designated, over HTTP. */
async function standbyDay(keys: number): Promise<DayCounts> {
  const h = await harness(keys);
  try {
    const list = keys > 1;
    const body = (p: TestPod) => (list ? { validators: h.validators, ephemeralKey: p.publicJwk } : { validator: h.validators[0], ephemeralKey: p.publicJwk });
    const holder = await pod(slot0);
    grantsOf('the holder', await (await podRequest(h, holder, '/v1/grants', body(holder)))(), list);
    const standby = await pod(slot1);
    return await measure(h, () =>
      aDayOf(h, h.settings.standbyRetryMs, list ? fetchWidth : 1, async (n) => {
        const send = await podRequest(h, standby, '/v1/grants', body(standby));
        return async () => {
          const a = await send();
          const answers: Answer[] = list ? ((a.json as { results?: Answer[] }).results ?? []) : [a.json as Answer];
          const wrong = answers.length === keys ? answers.find((x) => x.code !== 'not_designated') : { code: `${answers.length} answers` };
          if (wrong) throw new Error(`standby poll ${n}: expected not_designated, got ${wrong.code ?? 'a grant'}`);
        };
      }),
    );
  } finally {
    await h.b.close();
  }
}

/** How long, in real time, the promoted pod's fetch is held before the old holder acknowledges (the count's share of a promotion's wait). */
const promotionHoldMs = 1_000;

/**
 * One planned promotion: promote while the holder holds; the promoted pod's
 * fetch asks to wait and is held; the old holder's keeper acknowledges its
 * fencing (a release with its stale epoch); the held fetch is granted.
 */
async function promotion(): Promise<DayCounts> {
  const h = await harness(1);
  try {
    const holder = await pod(slot0);
    const [grant] = grantsOf('the holder', await (await podRequest(h, holder, '/v1/grants', { validator: 'v1', ephemeralKey: holder.publicJwk }))(), false);
    const standby = await pod(slot1);
    const waitSeconds = Math.floor(h.settings.fetchWaitMaxMs / 1000);
    return await measure(h, async () => {
      const before = { ...h.tally };
      const fetch = await podRequest(h, standby, '/v1/grants', { validator: 'v1', ephemeralKey: standby.publicJwk, wait: waitSeconds });
      const ack = await podRequest(h, holder, '/v1/grants/release', { grant, stop: 'proven' });
      const t0 = performance.now();
      const p = await promote(h.b, slot1);
      if (p.status !== 200) throw new Error(`promote: ${p.status} ${await p.text()}`);
      const heldFrom = performance.now();
      const waiting = fetch();
      await new Promise((r) => setTimeout(r, promotionHoldMs));
      const acked = await ack();
      if (acked.status !== 200) throw new Error(`acknowledgement: ${acked.status} ${JSON.stringify(acked.json)}`);
      grantsOf('the promoted pod', await waiting, false);
      const heldMs = performance.now() - heldFrom;
      // Three invocations (promote, the held fetch, the acknowledgement) sharing the counted calls and the time beyond the
      // hold; the held fetch's re-reads while it waits are counted as round trips too, so this errs high.
      const calls = { read: h.tally.read - before.read, commits: h.tally.commits - before.commits, key: h.tally.key - before.key };
      const each: Invocation = { roundTrips: roundTripsOf(calls, 1) / 3, ms: (performance.now() - t0 - heldMs) / 3 };
      return { invocations: [each, each, each], heldMs };
    });
  } finally {
    await h.b.close();
  }
}

export interface FleetDay {
  /** Pods of one key. */
  readonly held: DayCounts;
  readonly standby: DayCounts;
  /** Pods of `keysPerPod` keys, per validator. */
  readonly heldMany: DayCounts;
  readonly standbyMany: DayCounts;
  readonly keysPerPod: number;
  readonly promotion: DayCounts;
  /** What one validator's chain head adds to a stored checkpoint, bytes (checkpointBytesPerHead). */
  readonly checkpointBytesPerHead: number;
}

/**
 * Bytes a chain head takes in a stored checkpoint of a fleet: the codec the
 * stores write, over heads named as a fleet's validators are, with real
 * hashes and seqs of a year of standby entries.
 */
export function checkpointBytesPerHead(validators: number): number {
  const heads = Array.from({ length: validators }, (_, i) => ({ chain: `validator-${String(i).padStart(5, '0')}`, seq: 1460 + (i % 100), hash: sha256Hex(String(i)) }));
  const stored = (hs: typeof heads) => Buffer.byteLength(encodeCheckpoint({ ...nextCheckpoint(null, hs, Date.UTC(2026, 11, 1), maxLagFor(defaultSchedule)), signature: 'x'.repeat(200) }));
  return (stored(heads) - stored([])) / validators;
}

export async function fleetDay(): Promise<FleetDay> {
  const out: Partial<Record<'held' | 'standby' | 'heldMany' | 'standbyMany', DayCounts>> = {};
  for (const [name, keys] of [['', 1], ['Many', keysPerPod]] as const) {
    progress(`store calls per validator-day, ${keys} key(s) per pod: held (renewals over a simulated day)`);
    const held = await heldDay(keys);
    progress(`  held: ${JSON.stringify(held)}`);
    progress(`store calls per validator-day, ${keys} key(s) per pod: standby (not_designated polls over a simulated day)`);
    const standby = await standbyDay(keys);
    progress(`  standby: ${JSON.stringify(standby)}`);
    out[`held${name}`] = held;
    out[`standby${name}`] = standby;
  }
  const promo = await promotion();
  progress(`  one promotion: ${JSON.stringify(promo)}`);
  const bytesPerHead = checkpointBytesPerHead(assumptions.fleetValidators);
  progress(`  checkpoint bytes per chain head, in a checkpoint of ${assumptions.fleetValidators} validators: ${bytesPerHead.toFixed(1)}`);
  return { held: out.held!, standby: out.standby!, heldMany: out.heldMany!, standbyMany: out.standbyMany!, keysPerPod, promotion: promo, checkpointBytesPerHead: bytesPerHead };
}
