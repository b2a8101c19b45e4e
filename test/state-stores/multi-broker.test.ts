// The broker's whole flow (fetch, renew, release, promotion, restart
// takeover) with three broker instances sharing each cloud store through
// separate store instances, requests interleaved with Promise.all. At the end:
// one holder, and a ledger that verifies and matches the designation.

import { afterAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/compose';
import { KeyholdError } from '../../src/core/errors';
import type { StateStore } from '../../src/ports';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/server';
import { motoAvailable, startMoto, type Moto } from '../moto';
import { dynamoBackend, firestoreBackend, requireTool, vaultBackend } from './backends';
import { expectSound, fleet, importValidator, operator, slotA, slotB, validator } from './harness';

/**
 * Vault's clock runs with the fleet's: a version's created_time is when it
 * landed, and the store counts a late designation's wait from it, so a
 * Vault clock days ahead of the brokers' would read as every write landing late.
 */
let vaultNow: () => number = Date.now;
let moto: Moto | undefined;
let firestore: FirestoreEmulator | undefined;
let vault: VaultEmulator | undefined;
afterAll(async () => {
  await Promise.allSettled([moto?.stop(), firestore?.stop(), vault?.close()]);
});

const motoSkip = requireTool(motoAvailable(), 'moto_server');
const firestoreSkip = requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator');
const kinds: { name: string; skip: string | undefined; stores(n: number): Promise<StateStore[]> }[] = [
  {
    name: 'dynamodb (moto)',
    skip: motoSkip,
    async stores(n) {
      moto ??= await startMoto();
      const b = await dynamoBackend(moto.endpoint);
      return Promise.all(Array.from({ length: n }, () => b.open()));
    },
  },
  {
    name: 'firestore (emulator)',
    skip: firestoreSkip,
    async stores(n) {
      firestore ??= await startFirestoreEmulator();
      const b = await firestoreBackend(firestore.host);
      return Promise.all(Array.from({ length: n }, () => b.open()));
    },
  },
  {
    name: 'vault kv v2 (emulator)',
    skip: undefined,
    async stores(n) {
      vault ??= await startVaultEmulator({ now: () => vaultNow() });
      const b = await vaultBackend(vault, { intentGraceMs: 300 });
      return Promise.all(Array.from({ length: n }, () => b.open()));
    },
  },
];

/** A refusal the flow allows under contention: another broker's decision won, or the pod must wait. */
const allowed = (codes: string[]) => (e: unknown) => {
  if (e instanceof KeyholdError && codes.includes(e.code)) return e.code;
  throw e;
};

for (const kind of kinds) {
  (kind.skip ? describe.skip : describe)(`three brokers share one store: ${kind.name}${kind.skip ? ` (skipped: ${kind.skip})` : ''}`, () => {
    it('fetch, renew, promote, fenced acknowledgement, restart takeover: one holder throughout, ledger sound', async () => {
      const stores = await kind.stores(3);
      const f = await fleet(stores);
      vaultNow = () => f.clock.now();
      const [b0, b1, b2] = f.brokers as [Broker, Broker, Broker];
      try {
        await importValidator(b0);

        // The same pod asks all three brokers at once (a retried request): one
        // grant or idempotent re-issues, always for that pod at epoch 1. A
        // second instance of the slot racing it is either refused to wait or
        // is the takeover.
        const p1 = f.pod(slotA, 'uid-1');
        const first = await Promise.all([b0, b1, b2].map((b) => b.grants.fetch(p1, validator, f.ephemeral).catch(allowed(['conflict']))));
        const grants = first.filter((x) => typeof x !== 'string');
        expect(grants.length).toBeGreaterThan(0);
        for (const g of grants) expect(g.grant.claims).toMatchObject({ podUid: 'uid-1', epoch: 1 });
        const grant = grants[0]!.grant;

        // Renewals write nothing, so they never contend.
        const renewed = await Promise.all([b0, b1, b2].map((b) => b.grants.renew(p1, grant.token)));
        for (const r of renewed) expect(r.grant.claims.epoch).toBe(1);

        // An operator promotes the standby on one broker while the holder renews on the others.
        const [promoted, ...renews] = await Promise.all([
          b2.operations.promote(operator, validator, slotB, 'maintenance'),
          b0.grants.renew(p1, grant.token).catch(allowed(['stale_epoch'])),
          b1.grants.renew(p1, grant.token).catch(allowed(['stale_epoch'])),
        ]);
        expect(promoted.record.designation).toMatchObject({ epoch: 2, slot: slotB, state: 'vacant', podUid: null });
        for (const r of renews) if (typeof r !== 'string') expect(r.grant.claims.epoch).toBe(1);
        await expect(b1.grants.renew(p1, grant.token)).rejects.toMatchObject({ code: 'stale_epoch' });

        // The fenced holder acknowledges it stopped; the standby may start at once.
        const standby = f.pod(slotB, 'uid-b1');
        const ack = await b0.grants.release(p1, grant.token, null, 'proven');
        expect(ack.outcome).toBe('acknowledged');
        const held = await Promise.all([b1, b2].map((b) => b.grants.fetch(standby, validator, f.ephemeral).catch(allowed(['conflict']))));
        const heldGrants = held.filter((x) => typeof x !== 'string');
        expect(heldGrants.length).toBeGreaterThan(0);
        for (const g of heldGrants) expect(g.grant.claims).toMatchObject({ podUid: 'uid-b1', epoch: 2, slot: slotB });

        // The standby pod restarts: two brokers see the new instance at once; one takeover, a wait for all.
        const restarted = f.pod(slotB, 'uid-b2');
        const waits = await Promise.all([b0, b1].map((b) => b.grants.fetch(restarted, validator, f.ephemeral).then(() => 'granted', allowed(['not_before', 'conflict']))));
        expect(waits).not.toContain('granted');
        await expect(b2.grants.renew(standby, heldGrants[0]!.grant.token)).rejects.toMatchObject({ code: 'stale_epoch' });
        f.clock.advance(10 * 60_000);
        const final = await Promise.all([b0, b1, b2].map((b) => b.grants.fetch(restarted, validator, f.ephemeral).catch(allowed(['conflict']))));
        const finalGrants = final.filter((x) => typeof x !== 'string');
        expect(finalGrants.length).toBeGreaterThan(0);
        for (const g of finalGrants) expect(g.grant.claims).toMatchObject({ podUid: 'uid-b2', epoch: 3 });

        // One holder: only the latest instance can renew.
        await expect(b0.grants.renew(restarted, finalGrants[0]!.grant.token)).resolves.toBeDefined();
        // The superseded instance's grant has expired by now; had it not, its epoch is stale.
        await expect(b0.grants.renew(standby, heldGrants[0]!.grant.token)).rejects.toBeInstanceOf(KeyholdError);
        // The one fenced_ack above moved notBefore: a record change of its own.
        const { record } = await expectSound(stores[0]!, b1, 1);
        expect(record.designation).toMatchObject({ epoch: 3, slot: slotB, podUid: 'uid-b2', state: 'held' });
        for (const b of [b0, b1, b2]) expect((await b.operations.verify()).ok).toBe(true);
      } finally {
        await f.close();
      }
      // About 20 s on the Firestore emulator on a quiet machine (its transactions under contention): room for a loaded one.
    }, 90_000);
  });
}
