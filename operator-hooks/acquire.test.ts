import { UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { acquireGrant } from './acquire';
import type { Answer, BrokerClient, FetchView } from './broker-client';
import type { Clock, Sleep } from './clock';
import { ephemeralKeyPair } from './ephemeral-key';
import { nextStep } from './retry';

const grantToken = (epoch = 3) =>
  new UnsecuredJWT({ slot: 'local/validators/v1-0', pod_uid: 'uid-1', epoch }).setSubject('v1').setIssuedAt(1000).setExpirationTime(1015).setJti('j1').encode();

const refused = (status: number, code: string, retryAfterMs: number | null = null): Answer<FetchView> => ({ ok: false, kind: 'refused', status, code, retryAfterMs });
const granted = (): Answer<FetchView> => ({ ok: true, status: 201, body: { validator: 'v1', slot: 'local/validators/v1-0', grant: grantToken(), epoch: 3, expiresAt: '', key: 'jwe' } });

/** Virtual time: sleeping advances both clocks at once, so nothing really waits. */
function harness(script: Answer<FetchView>[], opts: { requestMs?: number; random?: number } = {}) {
  const t = { wall: 1_700_000_000_000, mono: 0 };
  const clock: Clock = { wall: () => t.wall, mono: () => t.mono };
  const sleeps: number[] = [];
  const sleep: Sleep = async (ms) => {
    sleeps.push(ms);
    t.wall += ms;
    t.mono += ms;
  };
  const lines: string[] = [];
  const sentAt: number[] = [];
  const client: BrokerClient = {
    fetchGrant: async () => {
      sentAt.push(t.wall);
      t.wall += opts.requestMs ?? 0;
      t.mono += opts.requestMs ?? 0;
      const next = script.shift();
      if (!next) throw new Error('script exhausted');
      return next;
    },
    renew: async () => {
      throw new Error('unused');
    },
    release: async () => {
      throw new Error('unused');
    },
  };
  return { clock, sleep, sleeps, lines, sentAt, client, log: (l: string) => lines.push(l), random: () => opts.random ?? 0, t };
}

describe('waiting for a grant', () => {
  it('waits through 425 and 503, honouring Retry-After up to the cap, and says how long and why', async () => {
    const h = harness([refused(425, 'not_before', 2_000), refused(425, 'not_before', 31_000), refused(503, 'state_store_unavailable', 5_000), granted()]);
    const keyPair = await ephemeralKeyPair();
    const got = await acquireGrant({ ...h, keyPair, settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    expect(got.kind).toBe('granted');
    expect(h.sleeps).toEqual([2_000, 5_000, 5_000]);
    expect(h.lines[0]).toMatch(/^waiting 2\.0s: not_before: .*broker asked for 2\.0s$/);
    expect(h.lines[1]).toMatch(/^waiting 5\.0s: not_before: .*broker asked for 31\.0s; checking sooner/);
    expect(h.lines[2]).toMatch(/^waiting 5\.0s: state_store_unavailable: .*broker asked for 5\.0s/);
  });

  it('adds jitter, never subtracts it', async () => {
    const h = harness([refused(425, 'not_before', 2_000), granted()], { random: 0.999 });
    await acquireGrant({ ...h, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    expect(h.sleeps[0]).toBeGreaterThan(2_000);
    expect(h.sleeps[0]).toBeLessThanOrEqual(2_400);
  });

  it('backs off exponentially while the broker is unreachable, up to the cap', async () => {
    const down: Answer<FetchView> = { ok: false, kind: 'unreachable', reason: 'ECONNREFUSED' };
    const h = harness([down, down, down, down, down, granted()]);
    await acquireGrant({ ...h, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 3_000, waitForDesignation: true } });
    expect(h.sleeps).toEqual([500, 1_000, 2_000, 3_000, 3_000]);
    expect(h.lines[0]).toBe('waiting 0.5s: broker unreachable (ECONNREFUSED)');
  });

  it('a standby keeps waiting on 403 not_designated, and logs a repeated reason once', async () => {
    const h = harness([...Array.from({ length: 5 }, () => refused(403, 'not_designated')), granted()]);
    const got = await acquireGrant({ ...h, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    expect(got.kind).toBe('granted');
    expect(h.sleeps).toEqual([5_000, 5_000, 5_000, 5_000, 5_000]);
    expect(h.lines.filter((l) => l.startsWith('waiting'))).toHaveLength(1);
  });

  it('a standby waits the broker\'s Retry-After on not_designated, beyond KEYHOLD_RETRY_MAX_SECONDS, up to five minutes', async () => {
    const h = harness([refused(403, 'not_designated', 30_000), refused(403, 'not_designated', 3_600_000), refused(403, 'not_designated'), granted()]);
    await acquireGrant({ ...h, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    expect(h.sleeps).toEqual([30_000, 300_000, 5_000]);
  });

  it('asks the broker to hold a 425 when KEYHOLD_FETCH_WAIT_SECONDS is set, and not otherwise', async () => {
    const asked: (number | undefined)[] = [];
    for (const fetchWaitMs of [10_000, 0]) {
      const h = harness([granted()]);
      const client: BrokerClient = { ...h.client, fetchGrant: async (k, o) => (asked.push(o?.waitMs), h.client.fetchGrant(k, o)) };
      await acquireGrant({ ...h, client, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true, fetchWaitMs } });
    }
    expect(asked).toEqual([10_000, undefined]);
  });

  it('gives up on 403 when not waiting for designation, and on a stale epoch', async () => {
    const a = harness([refused(403, 'not_designated')]);
    const r1 = await acquireGrant({ ...a, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: false } });
    expect(r1).toMatchObject({ kind: 'gave_up', reason: expect.stringMatching(/^not_designated/) });
    const b = harness([refused(409, 'stale_epoch')]);
    const r2 = await acquireGrant({ ...b, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    expect(r2).toMatchObject({ kind: 'gave_up', reason: expect.stringMatching(/^stale_epoch/) });
    expect(b.sleeps).toEqual([]);
    const c = harness([refused(403, 'forbidden')]);
    expect((await acquireGrant({ ...c, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } })).kind).toBe('gave_up');
  });

  it('reports the send time of the request that succeeded, not the time the answer came', async () => {
    const h = harness([refused(503, 'state_store_unavailable', 1_000), granted()], { requestMs: 700 });
    const got = await acquireGrant({ ...h, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } });
    if (got.kind !== 'granted') throw new Error(got.kind);
    expect(got.sent.wall).toBe(h.sentAt[1]);
    expect(h.t.wall - got.sent.wall).toBe(700);
    expect(got.claims).toMatchObject({ validator: 'v1', epoch: 3, iat: 1000, exp: 1015, podUid: 'uid-1' });
  });

  it('stops waiting when aborted', async () => {
    const h = harness([refused(425, 'not_before', 30_000), granted()]);
    const stop = new AbortController();
    const sleep: Sleep = async () => stop.abort();
    expect((await acquireGrant({ ...h, sleep, signal: stop.signal, keyPair: await ephemeralKeyPair(), settings: { retryMaxMs: 5_000, waitForDesignation: true } })).kind).toBe('aborted');
  });

  it('classifies other answers', () => {
    const s = { retryMaxMs: 5_000, waitForDesignation: true };
    expect(nextStep({ ok: false, kind: 'refused', status: 500, code: 'internal', retryAfterMs: null }, 0, s, () => 0)).toMatchObject({ kind: 'wait', ms: 500 });
    expect(nextStep({ ok: false, kind: 'refused', status: 409, code: 'conflict', retryAfterMs: null }, 1, s, () => 0)).toMatchObject({ kind: 'wait', ms: 1000 });
    expect(nextStep({ ok: false, kind: 'refused', status: 401, code: 'unauthenticated', retryAfterMs: null }, 0, s, () => 0)).toMatchObject({ kind: 'give_up' });
    expect(nextStep({ ok: false, kind: 'refused', status: 404, code: 'unknown_validator', retryAfterMs: null }, 0, s, () => 0)).toMatchObject({ kind: 'give_up' });
  });
});
