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
// go to the GrantService directly (the HTTP layer adds no store call;
// pod-token verification is crypto, not a store), one request per function
// invocation.

import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import type { Commit, KeyStore, StateStore } from '../../src/ports';
import type { PodIdentity } from '../../src/identity/pod-token';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { parseConfig } from '../../src/config';
import { ephemeralKeyPair, testBroker, testServiceAccount, type TestBroker } from '../support/fixtures';
import { importValidator, promote, slot0, slot1 } from '../http/helpers';
import { progress, round } from './report';
import { assumptions } from './prices';
import { fetchMany, renewMany } from '../../src/broker/grant-batch';

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
  /** Mean in-process time of one invocation, ms. */
  readonly mean_invocation_ms: number;
  /** Billed time of one invocation, ms: prices.ts's round-trip assumption per sequential store round trip, plus the in-process time. */
  readonly billed_ms_per_invocation: number;
  /** Time requests were held waiting for a designation change (billed as duration), ms. */
  readonly held_ms: number;
};

const keyReads: ReadonlySet<string> = new Set<keyof KeyStore>(['get', 'list']);
const stateReads: ReadonlySet<string> = new Set<keyof StateStore>(['getValidator', 'listValidators', 'keyOwner', 'readChain', 'chainHeads', 'latestCheckpoint', 'queryLedger']);

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

const identity = (slot: string, podUid = randomUUID()): PodIdentity => {
  const [cluster, namespace, podName] = slot.split('/') as [string, string, string];
  return { cluster, namespace, podName, podUid, serviceAccount: testServiceAccount, slot };
};

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
  readonly ephemeral: JWK;
  readonly validators: readonly string[];
  readonly settings: ReturnType<typeof productionSettings>;
}

async function harness(keys = 1): Promise<Harness> {
  const tally: Tally = { key: 0, read: 0, commits: 0, items: 0 };
  const state = countingCalls<StateStore>(new SqliteStateStore(':memory:'), (name, args) => {
    if (stateReads.has(name)) tally.read += 1;
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
  const { publicJwk } = await ephemeralKeyPair();
  return { b, tally, ephemeral: publicJwk, validators, settings: s };
}

async function ledgerSize(b: TestBroker): Promise<number> {
  return (await b.parts.state.chainHeads()).reduce((n, h) => n + h.seq, 0);
}

/**
 * Count what `run` costs, per validator of the pod (`perPod`); `run` returns
 * how many invocations it made, their total time, and how long the broker
 * held them waiting. `roundTrips`: sequential store round trips one
 * invocation makes (a list is worked on a few validators at a time).
 */
async function measure(h: Harness, roundTrips: number, run: () => Promise<{ invocations: number; ms: number; heldMs?: number }>): Promise<DayCounts> {
  // The tallies are taken between the bench's own chainHeads reads, which do not count.
  const ledgerBefore = await ledgerSize(h.b);
  const before2 = { ...h.tally };
  const { invocations, ms, heldMs = 0 } = await run();
  const after = { ...h.tally };
  const ledgerAfter = await ledgerSize(h.b);
  const per = h.validators.length;
  const mean = invocations > 0 ? (ms - heldMs) / invocations : 0;
  return {
    invocations: round(invocations / per, 3),
    key_reads: round((after.key - before2.key) / per, 3),
    state_reads: round((after.read - before2.read) / per, 3),
    state_commits: round((after.commits - before2.commits) / per, 3),
    state_items_written: round((after.items - before2.items) / per, 3),
    ledger_entries: round((ledgerAfter - ledgerBefore) / per, 3),
    mean_invocation_ms: round(mean, 3),
    billed_ms_per_invocation: round(assumptions.billedMsPerInvocation * roundTrips + mean, 1),
    held_ms: round(heldMs / per, 0),
  };
}

/** One invocation every `everyMs` of clock for a day; their count and the time they took. */
async function aDayOf(h: Harness, everyMs: number, call: (n: number) => Promise<void>): Promise<{ invocations: number; ms: number }> {
  let n = 0;
  let ms = 0;
  for (let t = 0; t < dayMs; t += everyMs) {
    h.b.clock.advance(everyMs);
    const start = performance.now();
    await call(n);
    ms += performance.now() - start;
    n += 1;
  }
  return { invocations: n, ms };
}

/** A held pod's day: its fetch happened before; a renewal of all its keys every grantTtl / 3. */
async function heldDay(keys: number): Promise<DayCounts> {
  const h = await harness(keys);
  try {
    const holder = identity(slot0);
    const got = await fetchMany(h.b.grants, holder, h.validators, h.ephemeral as never);
    let grants = got.map((o) => {
      if (!o.ok) throw new Error(`held fetch ${o.validator}: ${o.code}`);
      return o.value.grant.token;
    });
    const every = h.b.parts.timing.grantTtlMs / 3;
    return await measure(h, Math.ceil(keys / renewWidth), () =>
      aDayOf(h, every, async () => {
        const renewed = keys === 1 ? [{ ok: true as const, value: await h.b.grants.renew(holder, grants[0]!) }] : await renewMany(h.b.grants, holder, grants);
        grants = renewed.map((o) => {
          if (!o.ok) throw new Error(`renewal refused: ${o.code}`);
          return o.value.grant.token;
        });
      }),
    );
  } finally {
    await h.b.close();
  }
}

/** A standby pod's day: a fetch of all its keys every standby Retry-After, each refused not_designated. */
async function standbyDay(keys: number): Promise<DayCounts> {
  const h = await harness(keys);
  try {
    const held = await fetchMany(h.b.grants, identity(slot0), h.validators, h.ephemeral as never);
    if (held.some((o) => !o.ok)) throw new Error('the holder was not granted');
    const standby = identity(slot1);
    return await measure(h, Math.ceil(keys / fetchWidth), () =>
      aDayOf(h, h.settings.standbyRetryMs, async (n) => {
        const answers = await fetchMany(h.b.grants, standby, h.validators, h.ephemeral as never);
        const wrong = answers.find((o) => o.ok || o.code !== 'not_designated');
        if (wrong) throw new Error(`standby poll ${n}: expected not_designated, got ${wrong.ok ? 'a grant' : wrong.code}`);
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
    const holder = identity(slot0);
    const grant = (await h.b.grants.fetch(holder, 'v1', h.ephemeral as never)).grant.token;
    const standby = identity(slot1);
    return await measure(h, 1, async () => {
      const t0 = performance.now();
      const p = await promote(h.b, slot1);
      if (p.status !== 200) throw new Error(`promote: ${p.status} ${await p.text()}`);
      const heldFrom = performance.now();
      const waiting = h.b.grants.fetch(standby, 'v1', h.ephemeral as never, h.settings.fetchWaitMaxMs);
      await new Promise((r) => setTimeout(r, promotionHoldMs));
      await h.b.grants.release(holder, grant, null, 'proven');
      await waiting;
      const heldMs = performance.now() - heldFrom;
      return { invocations: 3, ms: performance.now() - t0, heldMs };
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
  return { held: out.held!, standby: out.standby!, heldMany: out.heldMany!, standbyMany: out.standbyMany!, keysPerPod, promotion: promo };
}
