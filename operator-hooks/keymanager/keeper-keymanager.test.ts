// The keeper in the Keymanager mode, with two validators in one client (a
// fake Keymanager server on a real socket): a fence of one removes only its
// key, and the acknowledgement carries the interchange the DELETE returned.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsecuredJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeKeymanager, type FakeKeymanager } from '../../test/support/fake-keymanager';
import type { Answer, BrokerClient, GrantView, ReleaseView, StopEvidence } from '../broker-client';
import { realSleep, systemClock } from '../clock';
import { testKeeperConfig } from '../../test/support/keeper-config';
import { writeKeyBundle, type GrantRecord } from '../key-files';
import { Keeper } from '../keeper';
import { httpKeymanagerApi } from './api';
import { KeymanagerCustody } from './custody';

let dir: string;
let km: FakeKeymanager;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-kmk-'));
  km = await startFakeKeymanager();
  await writeFile(join(dir, 'token'), km.token);
});
afterEach(async () => {
  await km.close();
  await rm(dir, { recursive: true, force: true });
});

const config = (validator: string) =>
  testKeeperConfig(join(dir, validator), {
    validator,
    validators: ['v1', 'v2'],
    keyDirOf: (v) => join(dir, v),
    keymanager: { url: km.url, tokenFile: join(dir, 'token') },
    client: 'lodestar',
    probeStateFile: join(dir, 'probe.json'),
  });

const token = (r: GrantRecord) =>
  new UnsecuredJWT({ slot: r.slot, pod_uid: r.podUid, epoch: r.epoch }).setSubject(r.validator).setIssuedAt(r.iat).setExpirationTime(r.exp).setJti(r.jti).encode();

/** A 3 s grant and a generated (not real) keystore, as fetch leaves them. */
async function grantOnDisk(validator: string): Promise<{ pubkey: string }> {
  const d = join(dir, validator);
  await mkdir(d);
  const now = Date.now();
  const iat = Math.ceil(now / 1000);
  const record: GrantRecord = { validator, slot: 'local/validators/pod-0', podUid: 'uid-1', epoch: 4, iat, exp: iat + 3, jti: `j-${validator}`, sentAt: now };
  const pubkey = `0x${randomBytes(48).toString('hex')}`;
  const files = new Map([['keystore.json', Buffer.from(JSON.stringify({ pubkey: pubkey.slice(2), crypto: {}, version: 4 }))], ['password.txt', Buffer.from('pw')]]);
  await writeKeyBundle(d, { format: 'eip2335', publicId: pubkey, files, slashingProtection: '{"metadata":{},"data":[]}' }, { token: token(record), record });
  return { pubkey };
}

/** v1 is fenced at its first renewal; v2 keeps renewing. */
function broker() {
  const acks: { validator: string; stop: StopEvidence; interchange: Record<string, unknown> | null }[] = [];
  const client = (validator: string): BrokerClient => ({
    renew: async (grant) => {
      if (validator === 'v1') return { ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null };
      const iat = Math.ceil(Date.now() / 1000);
      const old = JSON.parse(Buffer.from(grant.split('.')[1]!, 'base64url').toString()) as { slot: string; pod_uid: string; epoch: number };
      const renewed = token({ validator, slot: old.slot, podUid: old.pod_uid, epoch: old.epoch, iat, exp: iat + 3, jti: `r-${iat}`, sentAt: 0 });
      return { ok: true, status: 200, body: { validator, slot: old.slot, grant: renewed, epoch: old.epoch, expiresAt: new Date((iat + 3) * 1000).toISOString() } } as Answer<GrantView>;
    },
    fetchGrant: async () => ({ ok: false, kind: 'refused', status: 403, code: 'not_designated', retryAfterMs: null }),
    release: async (_grant, interchange, stop) => {
      acks.push({ validator, stop, interchange });
      return { ok: true, status: 200, body: { outcome: 'acknowledged', epoch: 5, slashingProtection: interchange ? 'stored' : 'none' } } as Answer<ReleaseView>;
    },
  });
  return { client, acks };
}

// A bound on waiting, not a timing assertion: generous, for a loaded machine.
const until = async (f: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await realSleep(20);
  }
};

async function twoKeepers(clientStop: () => { evidence: StopEvidence; why: string }) {
  const b = broker();
  let clientStops = 0;
  const custody = new KeymanagerCustody({
    api: httpKeymanagerApi({ url: km.url, tokenFile: join(dir, 'token'), timeoutMs: 2000 }),
    stopClient: async () => {
      clientStops++;
      return { pids: [7], ...clientStop() };
    },
    log: () => undefined,
  });
  const keepers = ['v1', 'v2'].map(
    (v) =>
      new Keeper(config(v), {
        client: b.client(v),
        clock: systemClock,
        sleep: realSleep,
        random: () => 0,
        log: () => undefined,
        stopSigner: () => custody.unload(v),
        startSigner: () => custody.load(v, join(dir, v)),
      }),
  );
  return { b, keepers, custody, clientStops: () => clientStops };
}

describe('keeper in the Keymanager mode', () => {
  it('imports every held key, and a fence of one removes only that key and acknowledges with its DELETE interchange', async () => {
    const k1 = await grantOnDisk('v1');
    const k2 = await grantOnDisk('v2');
    const { b, keepers, clientStops } = await twoKeepers(() => ({ evidence: 'proven', why: 'exited' }));
    const running = keepers.map((k) => k.run());
    await until(() => km.keys.size === 2);
    expect(km.keys.get(k1.pubkey)?.interchange).toBe('{"metadata":{},"data":[]}');
    await until(() => b.acks.length === 1);
    expect(keepers.map((k) => k.status().state)).toEqual(['fenced', 'holding']);
    expect([...km.keys.keys()]).toEqual([k2.pubkey]);
    expect(b.acks[0]).toMatchObject({ validator: 'v1', stop: 'proven' });
    expect((b.acks[0]!.interchange as { data: { pubkey: string }[] }).data.map((d) => d.pubkey)).toEqual([k1.pubkey]);
    expect(clientStops()).toBe(0);
    // v2 renews past its first grant's end and its key stays in the client.
    await realSleep(3200);
    expect(keepers[1]!.status().state).toBe('holding');
    expect(km.keys.has(k2.pubkey)).toBe(true);
    await Promise.all(keepers.map((k) => k.shutdown()));
    await Promise.all(running);
    // The release of v2 took its key out of the client too, with its interchange.
    expect(km.keys.size).toBe(0);
    expect(b.acks.find((a) => a.validator === 'v2')).toMatchObject({ stop: 'proven' });
    expect(b.acks.find((a) => a.validator === 'v2')!.interchange).not.toBeNull();
  }, 20_000);

  it('stops the client when it keeps a deleted key listed (Lodestar 1.5.1), and proves the stop only by the process exit', async () => {
    await grantOnDisk('v1');
    await grantOnDisk('v2');
    km.keepsDeletedKeys = true;
    const { b, keepers, clientStops } = await twoKeepers(() => ({ evidence: 'unproven', why: 'signer pid 7 did not exit' }));
    const running = keepers.map((k) => k.run());
    await until(() => b.acks.length === 1);
    expect(clientStops()).toBeGreaterThan(0);
    expect(b.acks[0]).toMatchObject({ validator: 'v1', stop: 'unproven' });
    await Promise.all(keepers.map((k) => k.shutdown()));
    await Promise.all(running);
  }, 20_000);
});
