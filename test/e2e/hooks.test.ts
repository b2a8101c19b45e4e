// End to end with real processes: a broker on loopback and validator "pods"
// (keyhold-hook fetch + keeper + a stand-in validator found by pidfile). In
// every scenario the stand-ins' holding intervals never overlap, and key files
// are gone whenever a pod does not hold the key.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testGenesisRoot } from '../support/fixtures';
import { Broker, Pod, horizonMs, overlaps, until, watchKeyFiles } from './support/cluster';

let broker: Broker;
let pods: Pod[] = [];
let watch: { stop: () => string[] } | null = null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  broker = await Broker.start();
});
afterAll(async () => {
  await broker?.stop();
});
afterEach(async (ctx) => {
  const violations = watch?.stop() ?? [];
  watch = null;
  if (ctx.task.result?.state === 'fail') for (const p of pods) console.error(p.log.join('\n'));
  await Promise.all(pods.map((p) => p.cleanup()));
  pods = [];
  // A scenario that failed while the broker was down must not fail the next one too.
  if (!broker.running) await broker.spawn();
  expect(violations).toEqual([]);
});

async function scenario(id: string, podNames: string[]): Promise<void> {
  await broker.importValidator(id, podNames.map((n) => `local/validators/${n}`));
}

async function pod(validator: string, name: string): Promise<Pod> {
  const p = await Pod.create(broker, validator, name);
  pods.push(p);
  return p;
}

function startWatching(): void {
  watch = watchKeyFiles(pods);
}

const holdingNow = (p: Pod) => until(`${p.podName} holding`, () => p.holding && p.lastState?.state === 'holding', 20_000);

describe('keyhold-hook against a real broker', () => {
  it('clean restart: the keeper releases on SIGTERM and the next pod instance starts at once', async () => {
    const { publicId } = await broker.importValidator('e2e-restart', ['local/validators/e2e-restart-0', 'local/validators/e2e-restart-standby-0']);
    const a = await pod('e2e-restart', 'e2e-restart-0');
    startWatching();
    await a.boot();
    await holdingNow(a);
    expect(await stat(join(a.keyDir, 'keystore.json')).then((s) => s.mode & 0o777)).toBe(0o400);
    expect(parse(await readFile(join(a.keyDir, 'validator_definitions.yml'), 'utf8'))).toEqual([expect.objectContaining({ voting_public_key: publicId, type: 'local_keystore' })]);
    // The first holder: keyhold cannot know the key never ran elsewhere, so detection stays on.
    expect(await readFile(join(a.keyDir, 'doppelganger-protection'), 'utf8')).toBe('true\n');
    const epoch = a.lastState!.epoch!;
    const interchange = {
      metadata: { interchange_format_version: '5', genesis_validators_root: testGenesisRoot },
      data: [{ pubkey: publicId, signed_blocks: [{ slot: '81952' }], signed_attestations: [{ source_epoch: '2290', target_epoch: '3007' }] }],
    };
    await a.terminate({ interchange });
    const releasedAt = Date.now();
    expect(a.log.join('\n')).toMatch(/releasing: released at epoch \d+; slashing protection stored/);
    expect(await readdir(a.keyDir)).toEqual([]);

    const a2 = await pod('e2e-restart', 'e2e-restart-0');
    await a2.boot({ fetchTimeoutMs: 10_000 });
    await holdingNow(a2);
    expect(a2.intervals[0]!.start - releasedAt).toBeLessThan(8_000);
    expect(a2.lastState!.epoch).toBe(epoch + 1);
    // The next holder gets the interchange to import before its validator starts.
    expect(JSON.parse(await readFile(join(a2.keyDir, 'slashing-protection.json'), 'utf8'))).toEqual(interchange);
    // ...and is told its predecessor stopped with its history.
    expect(JSON.parse(await readFile(join(a2.keyDir, 'grant.json'), 'utf8'))).toMatchObject({ epoch: epoch + 1, predecessor: 'released' });
    expect(await readFile(join(a2.keyDir, 'doppelganger-protection'), 'utf8')).toBe('false\n');
    expect(overlaps(pods)).toEqual([]);
  });

  it('crash: after kill -9 the next pod instance waits out the horizon', async () => {
    await scenario('e2e-crash', ['e2e-crash-0', 'e2e-crash-standby-0']);
    const a = await pod('e2e-crash', 'e2e-crash-0');
    startWatching();
    await a.boot();
    await holdingNow(a);
    await a.crash();
    const crashedAt = Date.now();

    const a2 = await pod('e2e-crash', 'e2e-crash-0');
    await a2.boot({ fetchTimeoutMs: 60_000 });
    await holdingNow(a2);
    expect(a2.intervals[0]!.start - crashedAt).toBeGreaterThanOrEqual(horizonMs);
    expect(a2.log.join('\n')).toMatch(/waiting [\d.]+s: not_before/);
    // A crash proves nothing: the successor keeps doppelganger detection.
    expect(JSON.parse(await readFile(join(a2.keyDir, 'grant.json'), 'utf8'))).toMatchObject({ predecessor: 'unproven' });
    expect(await readFile(join(a2.keyDir, 'doppelganger-protection'), 'utf8')).toBe('true\n');
    expect(overlaps(pods)).toEqual([]);
  });

  it('promotion: the fenced holder stops, wipes and acknowledges, and the standby starts without waiting out the horizon', async () => {
    await scenario('e2e-promote', ['e2e-promote-0', 'e2e-promote-standby-0']);
    const a = await pod('e2e-promote', 'e2e-promote-0');
    const b = await pod('e2e-promote', 'e2e-promote-standby-0');
    startWatching();
    await a.boot();
    await holdingNow(a);
    const standby = b.boot({ fetchTimeoutMs: 60_000 });
    standby.catch(() => undefined); // awaited below; a failure earlier must not surface as unhandled
    await until('standby waiting on not_designated', () => /not_designated: waiting/.test(b.log.join('\n')), 10_000);
    await sleep(1_000);
    expect(b.holding).toBe(false);

    const promotedAt = Date.now();
    await broker.promote('e2e-promote', b.slot);
    await until('fenced holder', () => a.lastState?.state === 'fenced', 15_000);
    expect(a.holding).toBe(false);
    expect(await a.keyFilesPresent()).toBe(false);
    // 'fenced' is shown as soon as the signer is stopped; the acknowledgement follows.
    await until('acknowledgement', () => /acknowledging the fence: acknowledged/.test(a.log.join('\n')), 10_000);
    await standby;
    await holdingNow(b);
    expect(b.intervals[0]!.start - promotedAt).toBeLessThan(horizonMs / 2);
    expect(b.lastState!.epoch).toBe(a.states.find((s) => s.state.state === 'holding')!.state.epoch! + 1);
    // The fenced pod stays without a key, not ready.
    await sleep(2_000);
    expect(a.lastState?.state).toBe('fenced');
    expect(a.intervals.every((i) => i.end !== null)).toBe(true);
    const ready = await fetch(`http://127.0.0.1:${a.keeperPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(overlaps(pods)).toEqual([]);
  });

  it('broker outage shorter than a renewal window: the holder rides through and the standby never starts', async () => {
    await scenario('e2e-blip', ['e2e-blip-0', 'e2e-blip-standby-0']);
    const a = await pod('e2e-blip', 'e2e-blip-0');
    const b = await pod('e2e-blip', 'e2e-blip-standby-0');
    startWatching();
    await a.boot();
    await holdingNow(a);
    void b.boot({ fetchTimeoutMs: 120_000 }).catch(() => undefined);
    broker.pause();
    await sleep(4_000);
    broker.resume();
    await sleep(6_000);
    expect(a.intervals).toHaveLength(1);
    expect(a.holding).toBe(true);
    expect(b.intervals).toHaveLength(0);
    const metrics = await (await fetch(`http://127.0.0.1:${a.keeperPort}/metrics`)).text();
    expect(metrics).toMatch(/keyhold_keeper_holding\{validator="e2e-blip"\} 1/);
    expect(overlaps(pods)).toEqual([]);
  });

  it.each([
    ['shorter', 'e2e-outage-short', 15_000],
    ['longer', 'e2e-outage-long', horizonMs + 5_000],
  ])('broker outage %s than the horizon: the keeper stops the signer before its grant expires, then resumes at the same epoch', async (_, id, outageMs) => {
    await scenario(id, [`${id}-0`, `${id}-standby-0`]);
    const a = await pod(id, `${id}-0`);
    const b = await pod(id, `${id}-standby-0`);
    startWatching();
    await a.boot();
    await holdingNow(a);
    void b.boot({ fetchTimeoutMs: 120_000 }).catch(() => undefined);
    const epoch = a.lastState!.epoch!;
    await sleep(500);
    const lastExpiry = Date.parse(a.lastState!.expiresAt!);
    await broker.kill();
    const downAt = Date.now();

    await until('keeper gives up the key', () => a.lastState?.state === 'lost', 20_000);
    const stoppedAt = a.intervals[0]!.end;
    expect(stoppedAt).not.toBeNull();
    // The renewal that might still have landed before the kill can only move expiry later.
    expect(stoppedAt!).toBeLessThan(lastExpiry);
    // The keeper wipes once the signer has exited (and its export is taken),
    // so the stand-in's exit may be seen a moment before the key is gone.
    await until('key files wiped', async () => !(await a.keyFilesPresent()), 3_000, 20);
    expect(a.holding).toBe(false);

    await sleep(Math.max(0, downAt + outageMs - Date.now()));
    expect(a.holding).toBe(false);
    await broker.spawn();
    await until('recovered holder', () => a.holding && a.lastState?.state === 'holding', 20_000);
    expect(a.lastState!.epoch).toBe(epoch);
    expect(a.log.join('\n')).toMatch(/recovered: the broker still designates this pod at epoch/);
    expect(b.intervals).toHaveLength(0);
    expect(overlaps(pods)).toEqual([]);
  });
});
