import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeKeymanager, type FakeKeymanager } from '../../test/support/fake-keymanager';
import type { SignerStop } from '../signer';
import { httpKeymanagerApi } from './api';
import { KeymanagerCustody } from './custody';

let dir: string;
let km: FakeKeymanager;
let clientStops: number;
let clientStop: SignerStop;
const logs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-km-'));
  km = await startFakeKeymanager();
  await writeFile(join(dir, 'api-token.txt'), `${km.token}\n`);
  clientStops = 0;
  clientStop = { pids: [42], evidence: 'proven', why: 'saw signer pid 42 exit' };
  logs.length = 0;
});
afterEach(async () => {
  await km.close();
  await rm(dir, { recursive: true, force: true });
});

function custody(url = km.url): KeymanagerCustody {
  return new KeymanagerCustody({
    api: httpKeymanagerApi({ url, tokenFile: join(dir, 'api-token.txt'), timeoutMs: 2000 }),
    stopClient: async () => {
      clientStops++;
      return clientStop;
    },
    log: (m) => logs.push(m),
  });
}

/** A key directory as fetch leaves it, with a generated (not real) keystore. */
async function keyDir(validator: string, interchange: string | null = null): Promise<{ dir: string; pubkey: string }> {
  const d = join(dir, validator);
  await mkdir(d);
  const pubkey = `0x${randomBytes(48).toString('hex')}`;
  await writeFile(join(d, 'keystore.json'), JSON.stringify({ pubkey: pubkey.slice(2), crypto: {}, version: 4 }));
  await writeFile(join(d, 'password.txt'), 'pw');
  if (interchange !== null) await writeFile(join(d, 'slashing-protection.json'), interchange);
  return { dir: d, pubkey };
}

/** A custody holding keys of `validators` in a client that, like Lodestar 1.5.1, keeps a deleted active key. */
async function holdingKeptKeys(...validators: string[]): Promise<{ c: KeymanagerCustody; keys: { v: string; dir: string; pubkey: string }[] }> {
  const c = custody();
  const keys = await Promise.all(validators.map(async (v) => ({ v, ...(await keyDir(v)) })));
  for (const k of keys) await c.load(k.v, k.dir);
  km.keepsDeletedKeys = true;
  return { c, keys };
}

/** The client process is gone: no API, no process to find. */
function clientGone(): void {
  km.failWith = 503;
  clientStop = { pids: [], evidence: 'unproven', why: 'no signer process found' };
}

describe('Keymanager custody', () => {
  it('sets the per-key fee recipient, gas limit and graffiti through the API after the import', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    const settings = { feeRecipient: '0x00000000000000000000000000000000000000aa', gasLimit: 36_000_000, graffiti: 'keyhold' };
    expect(await c.load('v1', v1.dir, settings)).toBe(true);
    expect(km.settings.get(v1.pubkey)).toEqual({ feerecipient: '0x00000000000000000000000000000000000000aa', gas_limit: '36000000', graffiti: 'keyhold' });
    expect(km.requests.indexOf('POST /eth/v1/keystores')).toBeLessThan(km.requests.indexOf(`POST /eth/v1/validator/${v1.pubkey}/feerecipient`));
  });

  it('reports a key whose settings the client refused as not handed over, so it is offered again', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    // A graffiti the fake refuses: not a string.
    const bad = { graffiti: 7 as unknown as string };
    expect(await c.load('v1', v1.dir, bad)).toBe(false);
    expect(logs.some((l) => /setting graffiti of .* failed \(POST \/eth\/v1\/validator\/…\/graffiti answered 400\)/.test(l))).toBe(true);
    expect(await c.load('v1', v1.dir, { graffiti: 'ok' })).toBe(true);
  });

  it('imports a held key with the interchange the broker handed over, authenticated with the token file', async () => {
    const c = custody();
    const v1 = await keyDir('v1', '{"metadata":{},"data":[]}');
    expect(await c.load('v1', v1.dir)).toBe(true);
    expect(km.keys.get(v1.pubkey)).toMatchObject({ password: 'pw', interchange: '{"metadata":{},"data":[]}' });
    // Loading again (a keeper restarted) is not an error.
    expect(await c.load('v1', v1.dir)).toBe(true);
    expect(km.keys.size).toBe(1);
  });

  it('removes only the fenced key, proves it by listing, and keeps the interchange the DELETE returned', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    const v2 = await keyDir('v2');
    await c.load('v1', v1.dir);
    await c.load('v2', v2.dir);
    const stop = await c.unload('v1');
    expect(stop.evidence).toBe('proven');
    expect([...km.keys.keys()]).toEqual([v2.pubkey]);
    expect((stop.interchange as { data: { pubkey: string }[] }).data.map((d) => d.pubkey)).toEqual([v1.pubkey]);
    expect(km.requests.slice(-3)).toEqual(['GET /eth/v1/keystores', 'DELETE /eth/v1/keystores', 'GET /eth/v1/keystores']);
    expect(clientStops).toBe(0);
    // The sweeper asks again: still proven, same interchange, no second DELETE.
    const again = await c.unload('v1');
    expect(again.evidence).toBe('unproven'); // the key is no longer this custody's to stop
    expect(km.requests.filter((r) => r.startsWith('DELETE'))).toHaveLength(1);
  });

  it('does not trust a DELETE the client answered but did not carry out: it stops the client process', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    await c.load('v1', v1.dir);
    km.keepsDeletedKeys = true; // Lodestar 1.5.1 with an active validator
    const stop = await c.unload('v1');
    expect(clientStops).toBe(1);
    expect(stop.evidence).toBe('proven');
    expect(stop.why).toMatch(/still lists .* after answering deleted/);
    expect(stop.why).toMatch(/saw signer pid 42 exit/);
    // The interchange of the DELETE still travels with the acknowledgement.
    expect(stop.interchange).not.toBeNull();
  });

  it('before it stops a client that kept a key, collects every other key\'s history, so each release carries its own', async () => {
    const { c, keys: vs } = await holdingKeptKeys('v1', 'v2', 'v3');
    const stops = [];
    for (const k of vs) {
      stops.push(await c.unload(k.v));
      clientGone(); // once the first stop is through
    }
    expect(clientStops).toBe(1);
    expect(stops.map((s) => (s.interchange as { data: { pubkey: string }[] } | null)?.data.map((d) => d.pubkey))).toEqual(vs.map((k) => [k.pubkey]));
    // The other two were deleted (files gone) before the process was seen to exit: their stop is proven too.
    expect(stops.map((s) => s.evidence)).toEqual(['proven', 'proven', 'proven']);
  });

  it('takes a key out again when a client lists it after the stop that counted it stopped', async () => {
    const { c, keys: [, v2] } = await holdingKeptKeys('v1', 'v2');
    await c.unload('v1');
    km.keepsDeletedKeys = false;
    // The client still answers and lists v2: some process signs with it.
    const stop = await c.unload('v2');
    expect(stop.evidence).toBe('proven');
    expect(km.keys.has(v2!.pubkey)).toBe(false);
    expect(clientStops).toBe(1);
  });

  it('does not count a later key as stopped when its DELETE failed before the client stop', async () => {
    const { c, keys: [, v2] } = await holdingKeptKeys('v1', 'v2');
    // v2 was not deleted: a client restarted from its data dir could load it again.
    km.rejectDeleteOf = v2!.pubkey;
    await c.unload('v1');
    clientGone();
    expect((await c.unload('v2')).evidence).toBe('unproven');
  });

  it('counts a client that would not exit as unproven', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    await c.load('v1', v1.dir);
    km.keepsDeletedKeys = true;
    clientStop = { pids: [42], evidence: 'unproven', why: 'signer pid 42 did not exit' };
    expect((await c.unload('v1')).evidence).toBe('unproven');
  });

  it.each([
    ['answers 503', /answered 503/, async () => { km.failWith = 503; }],
    ['rejects the token', /answered 401/, async () => { await writeFile(join(dir, 'api-token.txt'), 'another-token-0123456789'); }],
    ['is not listening', /ECONNREFUSED/, async () => { await km.close(); }],
  ])('treats a client that %s as a signer it cannot prove stopped, and stops its process', async (_what, reason, breakIt) => {
    const c = custody();
    const v1 = await keyDir('v1');
    await c.load('v1', v1.dir);
    await breakIt();
    clientStop = { pids: [], evidence: 'unproven', why: 'no signer process found' };
    const stop = await c.unload('v1');
    expect(clientStops).toBe(1);
    expect(stop.evidence).toBe('unproven');
    expect(stop.why).toMatch(reason);
  });

  it('after a client restart deletes at once every key it lists without a live grant', async () => {
    const c = custody();
    const v1 = await keyDir('v1');
    const v2 = await keyDir('v2');
    await c.load('v1', v1.dir);
    await c.load('v2', v2.dir);
    // The client came back with both keys from its data dir, but only v2 still has a live grant.
    await c.reconcile(() => new Set([v2.pubkey]));
    expect([...km.keys.keys()]).toEqual([v2.pubkey]);
    expect(logs.some((l) => l.includes('without a live grant'))).toBe(true);
  });

  it('refuses to load a key directory without an EIP-2335 keystore', async () => {
    const c = custody();
    const d = join(dir, 'empty');
    await mkdir(d);
    expect(await c.load('v1', d)).toBe(false);
    expect(km.requests).toEqual([]);
  });
});
