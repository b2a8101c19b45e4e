// What one validator costs the stores over a day, counted at the adapters on
// a shortened clock: a held validator (one fetch, then a renewal every
// grantTtl / 3, as the keeper does), a standby pod (a fetch every
// KEYHOLD_RETRY_MAX_SECONDS, answered not_designated, as the fetch hook
// does), and one planned promotion (promote, the old holder's release, the
// standby's admission). The broker is built with the production timing and
// refusal settings; the stores are the real SQLite adapters behind counting
// proxies, so every call the broker makes is seen. The calls go to the
// GrantService directly (the HTTP layer adds no store call; pod-token
// verification is crypto, not a store), one call per function invocation.

import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { KeyholdError } from '../../src/core/errors';
import type { Commit, KeyStore, StateStore } from '../../src/ports';
import type { PodIdentity } from '../../src/identity/pod-token';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { parseConfig } from '../../src/config';
import { ephemeralKeyPair, testBroker, testServiceAccount, type TestBroker } from '../support/fixtures';
import { importValidator, promote, slot0, slot1 } from '../http/helpers';
import { progress, round } from './report';

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
  /** Mean in-process time of one invocation, ms (for compute billing). */
  readonly mean_invocation_ms: number;
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
  return { timing: c.timing, refusalSummaryMs: c.refusalSummaryMs };
}

/** The fetch hook's wait between not_designated answers (KEYHOLD_RETRY_MAX_SECONDS default). */
export const standbyPollMs = 5_000;
const dayMs = 24 * 3600_000;

interface Harness {
  readonly b: TestBroker;
  readonly tally: Tally;
  readonly ephemeral: JWK;
}

async function harness(): Promise<Harness> {
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
  const keys = countingCalls<KeyStore>(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(7)), (name) => {
    if (keyReads.has(name)) tally.key += 1;
  });
  const s = productionSettings();
  const b = await testBroker({ state, keyStores: [keys], timing: s.timing, refusals: { summaryMs: s.refusalSummaryMs, maxWindows: 10_000 } });
  await importValidator(b, 'v1', [slot0, slot1]);
  const { publicJwk } = await ephemeralKeyPair();
  return { b, tally, ephemeral: publicJwk };
}

async function ledgerSize(b: TestBroker): Promise<number> {
  return (await b.parts.state.chainHeads()).reduce((n, h) => n + h.seq, 0);
}

/** Count what `run` costs; `run` returns how many invocations it made and their total time. */
async function measure(h: Harness, run: () => Promise<{ invocations: number; ms: number }>): Promise<DayCounts> {
  // The tallies are taken between the bench's own chainHeads reads, which do not count.
  const ledgerBefore = await ledgerSize(h.b);
  const before2 = { ...h.tally };
  const { invocations, ms } = await run();
  const after = { ...h.tally };
  const ledgerAfter = await ledgerSize(h.b);
  return {
    invocations,
    key_reads: after.key - before2.key,
    state_reads: after.read - before2.read,
    state_commits: after.commits - before2.commits,
    state_items_written: after.items - before2.items,
    ledger_entries: ledgerAfter - ledgerBefore,
    mean_invocation_ms: invocations > 0 ? round(ms / invocations, 3) : 0,
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

/** A held validator's day: its fetch happened before; a renewal every grantTtl / 3. */
async function heldDay(): Promise<DayCounts> {
  const h = await harness();
  try {
    const holder = identity(slot0);
    let grant = (await h.b.grants.fetch(holder, 'v1', h.ephemeral as never)).grant.token;
    const every = h.b.parts.timing.grantTtlMs / 3;
    return await measure(h, () =>
      aDayOf(h, every, async () => {
        grant = (await h.b.grants.renew(holder, grant)).grant.token;
      }),
    );
  } finally {
    await h.b.close();
  }
}

/** A standby pod's day: a fetch every standbyPollMs, each refused not_designated. */
async function standbyDay(): Promise<DayCounts> {
  const h = await harness();
  try {
    await h.b.grants.fetch(identity(slot0), 'v1', h.ephemeral as never);
    const standby = identity(slot1);
    return await measure(h, () =>
      aDayOf(h, standbyPollMs, async (n) => {
        const e = await h.b.grants.fetch(standby, 'v1', h.ephemeral as never).then(() => null, (x: unknown) => x);
        if (!(e instanceof KeyholdError) || e.code !== 'not_designated') throw new Error(`standby poll ${n}: expected not_designated, got ${String(e)}`);
      }),
    );
  } finally {
    await h.b.close();
  }
}

/** One planned promotion: promote, the old holder releases, the standby's next poll is admitted. */
async function promotion(): Promise<DayCounts> {
  const h = await harness();
  try {
    const holder = identity(slot0);
    const grant = (await h.b.grants.fetch(holder, 'v1', h.ephemeral as never)).grant.token;
    const standby = identity(slot1);
    return await measure(h, async () => {
      const t0 = performance.now();
      const p = await promote(h.b, slot1);
      if (p.status !== 200) throw new Error(`promote: ${p.status} ${await p.text()}`);
      await h.b.grants.release(holder, grant, null, 'proven');
      h.b.clock.advance(standbyPollMs);
      await h.b.grants.fetch(standby, 'v1', h.ephemeral as never);
      return { invocations: 3, ms: performance.now() - t0 };
    });
  } finally {
    await h.b.close();
  }
}

export interface FleetDay {
  readonly held: DayCounts;
  readonly standby: DayCounts;
  readonly promotion: DayCounts;
}

export async function fleetDay(): Promise<FleetDay> {
  progress('store calls per validator-day: held (renewals over a simulated day)');
  const held = await heldDay();
  progress(`  held: ${JSON.stringify(held)}`);
  progress('store calls per validator-day: standby (not_designated polls over a simulated day)');
  const standby = await standbyDay();
  progress(`  standby: ${JSON.stringify(standby)}`);
  const promo = await promotion();
  progress(`  one promotion: ${JSON.stringify(promo)}`);
  return { held, standby, promotion: promo };
}
