// `keyhold promote --wait` and `keyhold status` against a real broker on
// loopback, while pods hand over: the CLI's only view is the HTTP API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { fetchGrant, importValidator, pod, release, renew, slot0, slot1 } from './http/helpers';
import { cliRig, type CliRig } from './support/cli';

let rig: CliRig;
beforeAll(async () => {
  rig = await cliRig();
});
afterAll(() => rig.close());

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('keyhold promote --wait', () => {
  it('shows the handoff and exits 0 once the new holder has its key; --json keeps the answer on stdout', async () => {
    const { b, cli } = rig;
    b.clock.t = Date.now();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    // Every operator request uses one token id: once the promotion and two looks at the handoff have used theirs, the first look has been answered.
    const db = (b.parts.state as SqliteStateStore).rawDatabase();
    const used = () => (db.prepare('SELECT COUNT(*) AS n FROM used_tokens').get() as { n: number }).n;
    const before = used();
    const run = cli(['promote', 'v1', '--to', slot1, '--reason', 'drain', '--yes', '--wait', '--interval', '0.05', '--timeout', '30', '--json']);
    await until(async () => used() >= before + 3);
    expect((await b.parts.state.getValidator('v1'))?.designation.epoch).toBe(2);
    // The fenced holder stops and says so; the standby then fetches at once.
    expect((await release(b, a, grant)).status).toBe(200);
    const standby = await pod(slot1);
    expect((await fetchGrant(b, standby)).status).toBe(201);
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/keyhold: old holder has not acknowledged; notBefore in \d+s/);
    expect(r.stderr).toContain('keyhold: new holder has its key: pod ');
    const [row] = JSON.parse(r.stdout) as { epoch: number; state: string; slot: string; pod: string; promotion: string }[];
    expect(row).toMatchObject({ epoch: 2, state: 'held', slot: slot1, pod: standby.uid, promotion: 'held' });
  });

  it('exits 4 when the new holder does not hold within --timeout', async () => {
    const { cli } = rig;
    const r = await cli(['promote', 'v1', '--to', slot0, '--reason', 'back', '--yes', '--wait', '--interval', '0.05', '--timeout', '0.3']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/keyhold: timed out: /);
    expect(r.stdout).toBe('');
  });
});

describe('keyhold status', () => {
  it('adds the last renewal and how long the current grant has left, as a table and as JSON', async () => {
    const { b, cli } = rig;
    b.clock.t = Date.now();
    await importValidator(b, 'v7', ['eu1/validators/v7-0']);
    const before = await cli(['status', 'v7']);
    expect(before.stdout.split('\n')[0]).toMatch(/LASTRENEWAL\s+GRANTLEFT$/);
    expect(before.stdout.split('\n')[1]).toMatch(/vacant.*\s-\s+-$/);
    const p = await pod('eu1/validators/v7-0');
    const { grant } = (await (await fetchGrant(b, p, 'v7')).json()) as { grant: string };
    const issued = JSON.parse((await cli(['status', 'v7', '--format', 'json'])).stdout)[0] as { grant: { lastRenewal: string | null; leftSeconds: number; seenBy: string } };
    expect(issued.grant).toMatchObject({ lastRenewal: null, seenBy: 'this-broker-instance' });
    b.clock.advance(20_000);
    expect((await renew(b, p, grant)).status).toBe(200);
    const renewedAt = new Date(b.clock.now()).toISOString();
    const j = JSON.parse((await cli(['status', 'v7', '--format', 'json'])).stdout)[0] as { grant: { lastRenewal: string; expiresAt: string; leftSeconds: number } };
    expect(j.grant.lastRenewal).toBe(renewedAt);
    expect(j.grant.leftSeconds).toBe(Math.floor((Date.parse(j.grant.expiresAt) - b.clock.now()) / 1000));
    expect(j.grant.leftSeconds).toBeGreaterThan(0);
    const t = await cli(['status', 'v7']);
    expect(t.stdout.split('\n')[1]).toMatch(new RegExp(`held .*${renewedAt.replace(/[.]/g, '\\.')}\\s+\\d+s$`));
  });
});
