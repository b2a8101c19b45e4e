// `keyhold audit verify --trust/--save-trust`, `audit export` and the offline
// `audit verify --file --jwks`, against a broker on loopback.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointChainVerifier } from '../src/core/checkpoints';
import type { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { fetchGrant, importValidator, pod, slot0 } from './http/helpers';
import { cliRig, type CliRig } from './support/cli';

let rig: CliRig;
let jwks: string;

beforeAll(async () => {
  rig = await cliRig();
  await importValidator(rig.b);
  for (let i = 0; i < 3; i++) await fetchGrant(rig.b, await pod(slot0));
  jwks = join(rig.dir, 'jwks.json');
  await writeFile(jwks, JSON.stringify(rig.b.parts.signer.jwks()));
});
afterAll(() => rig.close());

const db = () => (rig.b.parts.state as SqliteStateStore).rawDatabase();

describe('keyhold audit verify with a trust anchor', () => {
  it('saves the newest checkpoint, accepts a ledger that extends it, and refuses one cut back behind it', async () => {
    const trust = join(rig.dir, 'trust.json');
    // Two checkpoints, so that cutting back behind the newest leaves an older one to verify against.
    await rig.cli(['audit', 'checkpoint']);
    await rig.cli(['audit', 'checkpoint']);
    const first = await rig.cli(['audit', 'verify', '--save-trust', trust]);
    expect(first.code).toBe(0);
    const saved = JSON.parse(await readFile(trust, 'utf8')) as { seq: number; keyframe?: number };
    expect(saved.seq).toBeGreaterThanOrEqual(2);
    expect(saved.keyframe).toBe(1); // a delta: the anchor covers what the fold from its keyframe covers

    await fetchGrant(rig.b, await pod(slot0));
    const second = await rig.cli(['audit', 'verify', '--trust', trust]);
    expect(second.stdout).toContain(`extends trusted checkpoint #${saved.seq}`);
    expect(second.code).toBe(0);

    // The attacker deletes the newest checkpoint and the entries it covered.
    const behind = new CheckpointChainVerifier();
    for (const c of await rig.b.parts.state.listCheckpoints(1, saved.seq - 1)) behind.push(c);
    db().prepare('DELETE FROM checkpoint_chain WHERE seq >= ?').run(saved.seq);
    for (const h of behind.latestHeads) db().prepare('DELETE FROM ledger WHERE chain = ? AND seq > ?').run(h.chain, h.seq);
    expect((await rig.cli(['audit', 'verify'])).code).toBe(0);
    const caught = await rig.cli(['audit', 'verify', '--trust', trust]);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toBe(`ledger TAMPERED: checkpoint chain, checkpoint ${saved.seq} (trust_missing)\n`);
  });

  it('refuses a trust file that is not a checkpoint, or not signed by the broker', async () => {
    const bad = join(rig.dir, 'bad.json');
    await writeFile(bad, '{"seq": 1}');
    expect((await rig.cli(['audit', 'verify', '--trust', bad])).code).toBe(2);
    const real = JSON.parse((db().prepare('SELECT body FROM checkpoint_chain ORDER BY seq LIMIT 1').get() as { body: string }).body) as Record<string, unknown>;
    await writeFile(bad, JSON.stringify({ ...real, signature: 'a.b.c' }));
    const r = await rig.cli(['audit', 'verify', '--trust', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid_trust');
  });
});

describe('keyhold audit export, verified offline', () => {
  it('exports checkpoints and entries that verify with only the JWKS, and not once a line is edited', async () => {
    await rig.cli(['audit', 'checkpoint']);
    const file = join(rig.dir, 'ledger.ndjson');
    const exp = await rig.cli(['audit', 'export', '--output', file]);
    expect(exp.code).toBe(0);
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; actor?: string });
    expect(lines[0]).toMatchObject({ type: 'header', format: 'keyhold-ledger-export' });
    expect(lines.at(-1)).toMatchObject({ type: 'end' });
    expect(new Set(lines.map((l) => l.type))).toEqual(new Set(['header', 'checkpoint', 'entry', 'end']));

    const ok = await rig.cli(['audit', 'verify', '--file', file, '--jwks', jwks, '--format', 'json']);
    expect(ok.code).toBe(0);
    const report = (JSON.parse(ok.stdout) as { ok: boolean; entries: number }[])[0]!;
    expect(report).toMatchObject({ ok: true, entries: lines.filter((l) => l.type === 'entry').length });
    expect(ok.stderr).toMatch(/verified \d+ entries \(100% of the file\)/);

    const i = lines.findIndex((l) => l.type === 'entry');
    const edited = lines.map((l, k) => (k === i ? { ...l, actor: 'operator:mallory' } : l));
    await writeFile(file, `${edited.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const bad = await rig.cli(['audit', 'verify', '--file', file, '--jwks', jwks]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^ledger TAMPERED: chain v1, first bad entry 1 \(hash_mismatch\)/);

    // Another broker's JWKS: the checkpoint signature no longer verifies.
    await writeFile(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const otherKeys = join(rig.dir, 'other-jwks.json');
    const { generateSigningJwk, signingKeyFromJwk } = await import('../src/grants/signer');
    await writeFile(otherKeys, JSON.stringify({ keys: [(await signingKeyFromJwk(await generateSigningJwk())).publicJwk] }));
    const foreign = await rig.cli(['audit', 'verify', '--file', file, '--jwks', otherKeys, '--format', 'json']);
    expect(foreign.code).toBe(1);
    expect((JSON.parse(foreign.stdout) as { problem: unknown }[])[0]!.problem).toMatchObject({ fault: 'checkpoint_signature' });

    // Cut off: the trailer is missing.
    await writeFile(file, `${lines.slice(0, -1).map((l) => JSON.stringify(l)).join('\n')}\n`);
    const cut = await rig.cli(['audit', 'verify', '--file', file, '--jwks', jwks]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain('cut off');
  });
});
