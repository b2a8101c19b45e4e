import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsecuredJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Answer, BrokerClient, FetchView, GrantView, ReleaseView } from './broker-client';
import { realSleep, systemClock } from './clock';
import { testKeeperConfig } from '../test/support/keeper-config';
import type { KeeperConfig } from './config';
import { writeKeyBundle, type GrantRecord } from './key-files';
import { Keeper, type KeeperDeps } from './keeper';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-keeper-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const config = () => testKeeperConfig(dir);

/**
 * For the tests whose renewal meets a fence: it is due at a third of the
 * grant's life, and the grant counts as lost at its life less the 1 s margin.
 * With 3 s a test process stalled for over a second (a loaded CI machine; a
 * 1.8 s busy loop reproduces it) renews too late, loses the grant instead of
 * meeting the fence, and the test times out; 6 s leaves 3 s of slack.
 */
const fenceGrantSeconds = 6;

/** A grant of `lifeSeconds` (3 s unless said), as fetch would have left it on disk. */
async function grantOnDisk(lifeSeconds = 3): Promise<{ token: string; record: GrantRecord }> {
  const now = Date.now();
  const iat = Math.ceil(now / 1000);
  const record: GrantRecord = { validator: 'v1', slot: 'local/validators/v1-0', podUid: 'uid-1', epoch: 4, iat, exp: iat + lifeSeconds, jti: 'j1', sentAt: now };
  const token = new UnsecuredJWT({ slot: record.slot, pod_uid: record.podUid, epoch: record.epoch }).setSubject('v1').setIssuedAt(iat).setExpirationTime(iat + lifeSeconds).setJti('j1').encode();
  await writeKeyBundle(dir, { format: 'eip2335', publicId: '0xab', files: new Map([['keystore.json', Buffer.from('k')], ['password.txt', Buffer.from('p')]]), slashingProtection: null }, { token, record });
  return { token, record };
}

function fakeBroker(renew: () => Answer<GrantView>, fetchGrant: () => Answer<FetchView>) {
  const events: string[] = [];
  const released: string[] = [];
  const interchanges: (Record<string, unknown> | null)[] = [];
  const stops: string[] = [];
  const client: BrokerClient = {
    renew: async () => {
      events.push('renew');
      return renew();
    },
    fetchGrant: async () => {
      events.push('fetch');
      return fetchGrant();
    },
    release: async (grant, sp, stop) => {
      events.push('release');
      released.push(grant);
      interchanges.push(sp);
      stops.push(stop);
      return { ok: true, status: 200, body: { outcome: 'acknowledged', epoch: 5, slashingProtection: 'none' } } as Answer<ReleaseView>;
    },
  };
  return { client, events, released, interchanges, stops };
}

const until = async (f: () => boolean, ms = 8000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await realSleep(20);
  }
};

/** A keeper on the system clock over a fake broker; `stopSigner` stands in for the signer. */
const keeperWith = (client: BrokerClient, stopSigner: KeeperDeps['stopSigner'], opts: { config?: Partial<KeeperConfig>; log?: (l: string) => void } = {}) =>
  new Keeper({ ...config(), ...opts.config }, { client, clock: systemClock, sleep: realSleep, random: () => 0, log: opts.log ?? (() => undefined), stopSigner });

describe('keeper', () => {
  it('on stale_epoch stops the signer, wipes, then acknowledges with the stale grant, and stays fenced', async () => {
    const { token } = await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    let wipedAtStop: string[] | null = null;
    const keeper = keeperWith(b.client, async () => {
      b.events.push('stop');
      wipedAtStop ??= await readdir(dir);
      return { evidence: 'proven', why: 'saw it exit' };
    });
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced' && b.released.length === 1);
    // Renewal is due at a third of the 3 s lifetime.
    expect(b.events[0]).toBe('renew');
    // The sweeper may stop it again meanwhile; what matters is stop, then acknowledge.
    expect(b.events.indexOf('stop')).toBeLessThan(b.events.indexOf('release'));
    expect(wipedAtStop).toContain('keystore.json'); // stopped before the wipe
    expect(await readdir(dir)).toEqual([]);
    expect(b.released).toEqual([token]);
    expect(b.stops).toEqual(['proven']);
    expect(keeper.status()).toMatchObject({ state: 'fenced', epoch: 4, reason: expect.stringMatching(/^stale_epoch/) });
    await keeper.shutdown();
    await running;
    expect(b.released).toHaveLength(1); // the fence was already acknowledged
    expect(keeper.status().state).toBe('released');
  });

  it('takes the key out of the client\'s layout (KEYHOLD_CLIENT) before it wipes its directory, on a fence', async () => {
    await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    const seen: string[][] = [];
    const keeper = new Keeper(config(), {
      client: b.client, clock: systemClock, sleep: realSleep, random: () => 0, log: () => undefined,
      stopSigner: async () => ({ evidence: 'proven', why: 'saw it exit' }),
      beforeWipe: async () => {
        b.events.push('layout');
        seen.push(await readdir(dir));
      },
    });
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced' && b.released.length === 1);
    expect(seen[0]).toContain('keystore.json'); // it can still read the key's pubkey
    expect(b.events.indexOf('layout')).toBeLessThan(b.events.indexOf('release'));
    await keeper.shutdown();
    await running;
  });

  /** A keeper holding a grant on disk whose next renewal is refused stale_epoch; what its acknowledgement said. */
  async function fencedWith(stopSigner: KeeperDeps['stopSigner']): Promise<{ stops: string[]; logs: string[] }> {
    await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    const logs: string[] = [];
    const keeper = new Keeper(config(), { client: b.client, clock: systemClock, sleep: realSleep, random: () => 0, log: (l) => logs.push(l), stopSigner });
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced' && b.released.length === 1);
    await until(() => logs.some((l) => l.startsWith('acknowledging the fence: acknowledged')));
    await keeper.shutdown();
    await running;
    return { stops: b.stops, logs };
  }

  it('acknowledges a fence as unproven when no stop saw the signer exit, and says why', async () => {
    const { stops, logs } = await fencedWith(async () => ({ evidence: 'unproven', why: 'no signer process found, but this container shares no process namespace with the signer' }));
    expect(stops).toEqual(['unproven']);
    expect(logs.some((l) => /unproven \(no signer process found.*\); the successor waits out the horizon/.test(l))).toBe(true);
  });

  it('keeps a stop proven once it saw the signer exit, though later sweeps find nothing', async () => {
    let calls = 0;
    // The fence's stop sees the exit; every sweep after it finds nothing.
    const { stops } = await fencedWith(async () => (++calls === 1 ? { evidence: 'proven', why: 'saw it exit' } : { evidence: 'unproven', why: 'no signer process found' }));
    expect(stops).toEqual(['proven']);
  });

  it('stops the signer by the deadline when it cannot renew, then recovers only at the same epoch', async () => {
    const { record } = await grantOnDisk();
    const b = fakeBroker(() => ({ ok: false, kind: 'unreachable', reason: 'ECONNREFUSED' }), () => ({ ok: false, kind: 'refused', status: 403, code: 'not_designated', retryAfterMs: null }));
    let stoppedAt = 0;
    const keeper = keeperWith(b.client, async () => {
      if (stoppedAt === 0) stoppedAt = Date.now();
      return { evidence: 'proven', why: 'saw it exit' };
    });
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced');
    // Lifetime 3 s less the 1 s margin, counted from the send recorded by fetch.
    expect(stoppedAt).toBeGreaterThanOrEqual(record.sentAt + 2000 - 50);
    expect(stoppedAt).toBeLessThan(record.exp * 1000);
    expect(keeper.status().renewFailuresTotal).toBeGreaterThan(0);
    // Not designated any more: it acknowledges with the lost grant and stays fenced.
    expect(b.events.filter((e) => e === 'fetch')).toHaveLength(1);
    expect(b.released).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
    await keeper.shutdown();
    await running;
  });

  it('exits as soon as the release is done, not after the sweeper\'s next tick', async () => {
    await grantOnDisk();
    const b = fakeBroker(() => ({ ok: true, status: 200, body: { validator: 'v1', slot: 'local/validators/v1-0', grant: 'g', epoch: 4, expiresAt: new Date(Date.now() + 3000).toISOString() } }) as Answer<GrantView>, () => {
      throw new Error('unused');
    });
    // A sweep interval that never ends unless it is woken: run() would hang without the wake-up.
    const sleep = (ms: number, signal?: AbortSignal) => (ms === 1000 && !signal ? new Promise<void>(() => {}) : realSleep(ms, signal));
    const keeper = new Keeper(config(), { client: b.client, clock: systemClock, sleep, random: () => 0, log: () => undefined, stopSigner: async () => ({ evidence: 'proven', why: 'saw it exit' }) });
    const running = keeper.run();
    await until(() => keeper.status().state === 'holding');
    const started = Date.now();
    await keeper.shutdown();
    await running;
    expect(Date.now() - started).toBeLessThan(500);
    expect(b.released).toHaveLength(1);
  });

  it('on stale_epoch acknowledges with the export the signer left when it stopped, taken before the wipe', async () => {
    const { token } = await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    const exported = { metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [{ pubkey: `0x${'cd'.repeat(48)}`, signed_blocks: [{ slot: '9' }], signed_attestations: [] }] };
    let stops = 0;
    const keeper = keeperWith(
      b.client,
      // The validator wrapper writes its export as the client exits; only the first stop finds a running signer.
      async () => {
        if (stops++ === 0) await writeFile(join(dir, 'slashing-protection-export.json'), JSON.stringify(exported));
        return { evidence: 'proven', why: 'saw it exit' };
      },
    );
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced' && b.released.length === 1);
    expect(b.released).toEqual([token]);
    expect(b.interchanges).toEqual([exported]);
    expect(await readdir(dir)).toEqual([]);
    await keeper.shutdown();
    await running;
  });

  it('waits, when told to, for the export a wrapper writes after its client exited, and acknowledges with it', async () => {
    await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    const exported = { metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [] };
    let stops = 0;
    let keyLeftWhileWaiting: boolean | null = null;
    // The wrapper's export lands only once the key is gone, and a while
    // after: a keeper that kept the key until the export came would never
    // see it. (A fixed 600 ms after the stop flaked on a loaded machine.)
    const keeper = keeperWith(b.client, async () => {
      if (stops++ > 0) return { evidence: 'proven', why: 'saw it exit' };
      void (async () => {
        const end = Date.now() + 4000;
        while ((await readdir(dir)).includes('keystore.json') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        keyLeftWhileWaiting = (await readdir(dir)).includes('keystore.json');
        await new Promise((r) => setTimeout(r, 300));
        await writeFile(join(dir, 'slashing-protection-export.json'), JSON.stringify(exported));
      })();
      return { evidence: 'proven', why: 'saw it exit' };
    }, { config: { exportWaitMs: 5000 } });
    const running = keeper.run();
    await until(() => keeper.status().state === 'fenced' && b.released.length === 1);
    expect(b.interchanges).toEqual([exported]);
    // The key was gone while the keeper waited for the export.
    expect(keyLeftWhileWaiting).toBe(false);
    expect(await readdir(dir)).toEqual([]);
    await keeper.shutdown();
    await running;
  });

  it('exports again after the wipe, so a client restarted between the stop and the wipe hands back what it signed meanwhile', async () => {
    await grantOnDisk(fenceGrantSeconds);
    const b = fakeBroker(() => ({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: null }), () => {
      throw new Error('a fenced keeper must not fetch');
    });
    const outside = await mkdtemp(join(tmpdir(), 'keyhold-export-'));
    const file = join(outside, 'export.json');
    const history = (slot: string) => ({ metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [{ pubkey: `0x${'cd'.repeat(48)}`, signed_blocks: [{ slot }], signed_attestations: [] }] });
    let stops = 0;
    try {
      const keeper = keeperWith(
        b.client,
        // The first stop leaves slot 9 in the client's database; the client the
        // container restarted before the wipe signed slot 12 until the next stop.
        async () => {
          await writeFile(file, JSON.stringify(history(stops++ === 0 ? '9' : '12')));
          return { evidence: 'proven', why: 'saw it exit' };
        },
        { config: { exportCommand: ['cat', file] } },
      );
      const running = keeper.run();
      await until(() => keeper.status().state === 'fenced' && b.interchanges.length === 1);
      await keeper.shutdown();
      await running;
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
    expect(b.interchanges[0]).toEqual(history('12'));
  });

  it('compacts an export larger than the broker takes by the EIP-3076 minimal strategy, from KEYHOLD_SLASHING_EXPORT_COMMAND', async () => {
    await grantOnDisk();
    const b = fakeBroker(() => ({ ok: true, status: 200, body: { validator: 'v1', slot: 'local/validators/v1-0', grant: 'g', epoch: 4, expiresAt: new Date(Date.now() + 3000).toISOString() } }) as Answer<GrantView>, () => {
      throw new Error('unused');
    });
    const pubkey = `0x${'cd'.repeat(48)}`;
    // A complete history: one attestation per epoch for 4,000 epochs, out of order, and some blocks.
    const attestations = Array.from({ length: 4000 }, (_, i) => ({ source_epoch: String((i * 7919) % 4000), target_epoch: String(((i * 7919) % 4000) + 1), signing_root: `0x${'ee'.repeat(32)}` }));
    const big = { metadata: { interchange_format_version: '4', interchange_format: 'complete', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [{ pubkey, signed_blocks: [{ slot: '31999' }, { slot: '12' }], signed_attestations: attestations }] };
    const outside = await mkdtemp(join(tmpdir(), 'keyhold-export-'));
    const file = join(outside, 'export.json');
    await writeFile(file, JSON.stringify(big));
    expect(JSON.stringify(big).length).toBeGreaterThan(250 * 1024);
    const logs: string[] = [];
    try {
      const keeper = keeperWith(b.client, async () => ({ evidence: 'proven', why: 'saw it exit' }), { config: { exportCommand: ['cat', file] }, log: (l) => logs.push(l) });
      const running = keeper.run();
      await until(() => keeper.status().state === 'holding');
      await keeper.shutdown();
      await running;
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
    expect(b.interchanges).toEqual([
      { metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [{ pubkey, signed_blocks: [{ slot: '31999' }], signed_attestations: [{ source_epoch: '3999', target_epoch: '4000' }] }] },
    ]);
    expect(logs.join('\n')).toMatch(/compacted \d+ bytes/);
  });
});
