// Repeated refusals are ledgered once, then as counts: a standby that polls
// for a day leaves a handful of entries, and every poll is still accounted for.

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyholdError } from '../../src/core/errors';
import { takeoverWaitMs } from '../../src/core/horizon';
import type { LedgerEntry } from '../../src/core/ledger';
import type { PodIdentity } from '../../src/identity/pod-token';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { ephemeralKeyPair, testBroker, testServiceAccount, testTiming, type TestBroker } from '../support/fixtures';
import { FaultyStateStore } from '../support/faulty-stores';
import { importValidator, promote, slot0, slot1 } from './helpers';

const summaryMs = 6 * 3600_000;
const pollMs = 5_000;

const identity = (slot: string, podUid = randomUUID()): PodIdentity => {
  const [cluster, namespace, podName] = slot.split('/') as [string, string, string];
  return { cluster, namespace, podName, podUid, serviceAccount: testServiceAccount, slot };
};

/** Poll `n` times, `pollMs` apart; every answer must be the refusal `code`. */
async function poll(b: TestBroker, who: PodIdentity, n: number, code: string, validator = 'v1'): Promise<void> {
  const { publicJwk } = await ephemeralKeyPair();
  for (let i = 0; i < n; i++) {
    b.clock.advance(pollMs);
    const e = await b.grants.fetch(who, validator, publicJwk as never).then(() => null, (x: unknown) => x);
    if (!(e instanceof KeyholdError) || e.code !== code) throw new Error(`poll ${i}: expected ${code}, got ${String(e)}`);
  }
}

const counted = (entries: LedgerEntry[], actor: string, reason: string) =>
  entries.filter((e) => e.actor === actor && e.reason === reason).reduce((n, e) => n + (e.action === 'refusals_repeated' ? Number(e.details.count) : 1), 0);

describe('repeated refusals', () => {
  it('a standby polling for a day writes a handful of entries, and the counts add up to every poll', async () => {
    const b = await testBroker({ refusals: { summaryMs, maxWindows: 100 } });
    await importValidator(b);
    const standby = identity(slot1);
    const polls = (24 * 3600_000) / pollMs;
    await poll(b, standby, polls, 'not_designated');
    const chain = await b.parts.state.readChain('v1', 1, 100_000);
    const mine = chain.filter((e) => e.actor === `pod:${standby.podUid}`);
    expect(mine.map((e) => e.action)).toEqual(['denied', 'refusals_repeated', 'refusals_repeated', 'refusals_repeated']);
    expect(mine.length).toBeLessThanOrEqual(5);
    for (const e of mine.slice(1)) expect(e.details).toMatchObject({ of: 'denied', notBefore: mine[0]!.details.notBefore ?? expect.any(Number) });
    // The last window is still open: promoted and admitted, the standby's grant commits its count.
    await promote(b, slot1);
    const { publicJwk } = await ephemeralKeyPair();
    await b.grants.fetch(standby, 'v1', publicJwk as never);
    const after = await b.parts.state.readChain('v1', 1, 100_000);
    expect(counted(after, `pod:${standby.podUid}`, 'not_designated')).toBe(polls);
    expect(after.at(-1)!.action).toBe('grant_issued');
    // A new designation (epoch, notBefore) is a new refusal: written in full again.
    await promote(b, slot0);
    await poll(b, standby, 3, 'not_designated');
    const last = (await b.parts.state.readChain('v1', 1, 100_000)).filter((e) => e.actor === `pod:${standby.podUid}`).slice(-1);
    expect(last.map((e) => [e.action, e.reason, e.epoch])).toEqual([['denied', 'not_designated', 3]]);
    expect((await b.operations.verify()).ok).toBe(true);
  }, 60_000);

  it('a pod waiting out a takeover is written once, and its count lands with its grant', async () => {
    const b = await testBroker({ refusals: { summaryMs, maxWindows: 100 } });
    await importValidator(b);
    const { publicJwk } = await ephemeralKeyPair();
    await b.grants.fetch(identity(slot0), 'v1', publicJwk as never);
    const restarted = identity(slot0);
    await expect(b.grants.fetch(restarted, 'v1', publicJwk as never)).rejects.toMatchObject({ code: 'not_before' });
    const waits = Math.floor(takeoverWaitMs(testTiming) / pollMs) - 1;
    await poll(b, restarted, waits, 'not_before');
    b.clock.advance(pollMs);
    await b.grants.fetch(restarted, 'v1', publicJwk as never);
    const mine = (await b.parts.state.readChain('v1', 1, 1000)).filter((e) => e.actor === `pod:${restarted.podUid}`);
    expect(mine.map((e) => e.action)).toEqual(['takeover', 'denied', 'refusals_repeated', 'grant_reissued']);
    expect(mine[2]!.details.count).toBe(waits - 1);
  });

  it('answers unknown and not-yours alike under dedupe too, each written once', async () => {
    const b = await testBroker({ refusals: { summaryMs, maxWindows: 100 } });
    await importValidator(b);
    const stranger = identity('eu1/validators/elsewhere-0');
    await poll(b, stranger, 20, 'not_designated', 'nope');
    await poll(b, stranger, 20, 'not_designated', 'v1');
    expect((await b.parts.state.readChain('_broker', 1, 100)).map((e) => e.reason)).toEqual(['unknown_validator']);
    expect((await b.parts.state.readChain('v1', 1, 100)).map((e) => e.reason)).toEqual([null, 'not_designated']);
  });

  it('a refusal whose entry could not be written is answered 503 and written in full by the next one', async () => {
    const state = new FaultyStateStore(new SqliteStateStore(':memory:'));
    const b = await testBroker({ state, refusals: { summaryMs, maxWindows: 100 } });
    await importValidator(b);
    const standby = identity(slot1);
    state.mode = 'commits_down';
    await poll(b, standby, 1, 'state_store_unavailable');
    state.mode = 'ok';
    await poll(b, standby, 3, 'not_designated');
    const mine = (await b.parts.state.readChain('v1', 1, 100)).filter((e) => e.actor === `pod:${standby.podUid}`);
    expect(mine.map((e) => [e.action, e.reason])).toEqual([['denied', 'not_designated']]);
  });

  it('without dedupe every refusal is its own entry (the setting is what makes the difference)', async () => {
    const b = await testBroker();
    await importValidator(b);
    await poll(b, identity(slot1), 10, 'not_designated');
    expect((await b.parts.state.readChain('v1', 1, 100)).filter((e) => e.action === 'denied')).toHaveLength(10);
  });
});
