// A broker killed between two store calls of a decision, then another broker
// carries on: no ledger entry lost or duplicated, no designation change
// without its entry, epochs still rise. The kill is a throw at the chosen
// point, after which that broker's store instance is never used again.
//   DynamoDB: before the TransactWriteItems is sent / after it committed (answer lost).
//   Firestore: inside the transaction before commit / after the commit.
//   Vault: after the intent entries, before the designation CAS / after the CAS, before marking the intent.

import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyholdError } from '../../src/core/errors';
import type { StateStore } from '../../src/ports';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/server';
import { motoAvailable, startMoto, type Moto } from '../moto';
import { dynamoBackend, firestoreBackend, requireTool, vaultBackend } from './backends';
import { expectSound, fleet, importValidator, slotA, validator } from './harness';

class Crash extends Error {
  constructor(point: string) {
    super(`broker died at ${point}`);
  }
}

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

interface Kind {
  readonly name: string;
  readonly skip?: string;
  readonly points: readonly string[];
  /** A backend, and a way to open a store on it that dies at `point` on its first decision commit after `armed()`. */
  setup(): Promise<{ open(): Promise<StateStore>; crashing(point: string, armed: () => boolean): Promise<StateStore> }>;
}

const kinds: Kind[] = [
  {
    name: 'dynamodb (moto)',
    ...(requireTool(motoAvailable(), 'moto_server') ? { skip: requireTool(motoAvailable(), 'moto_server')! } : {}),
    points: ['before-send', 'after-send'],
    async setup() {
      moto ??= await startMoto();
      const b = await dynamoBackend(moto.endpoint);
      return {
        open: () => b.open(),
        crashing: (point, armed) => {
          // Dead is dead: the broker does not even read back what its lost answer would have said.
          let dead = false;
          return b.openWith((sender) => ({
            async send(command) {
              if (dead) throw new Crash(point);
              if (!(command instanceof TransactWriteItemsCommand) || !armed()) return sender.send(command);
              dead = true;
              if (point === 'before-send') throw new Crash(point);
              await sender.send(command);
              throw new Crash(point);
            },
            destroy: () => sender.destroy?.(),
          }));
        },
      };
    },
  },
  {
    name: 'firestore (emulator)',
    ...(requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator') ? { skip: requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator')! } : {}),
    points: ['before-commit', 'after-commit'],
    async setup() {
      firestore ??= await startFirestoreEmulator();
      const b = await firestoreBackend(firestore.host);
      return {
        open: () => b.open(),
        crashing: (point, armed) =>
          b.openWith({
            crashPoint: (p) => {
              if (p === point && armed()) throw new Crash(point);
            },
          }),
      };
    },
  },
  {
    name: 'vault kv v2 (emulator)',
    points: ['after-intent', 'after-designation'],
    async setup() {
      vault ??= await startVaultEmulator({ now: () => vaultNow() });
      const b = await vaultBackend(vault, { intentGraceMs: 200 });
      return {
        open: () => b.open(),
        crashing: (point, armed) =>
          b.openWith({
            crashPoint: (p) => {
              if (p === point && armed()) throw new Crash(point);
            },
          }),
      };
    },
  },
];

for (const kind of kinds) {
  (kind.skip ? describe.skip : describe)(`crash between store calls: ${kind.name}${kind.skip ? ` (skipped: ${kind.skip})` : ''}`, () => {
    for (const point of kind.points) {
      it(`a broker dies at ${point} during a fetch; another carries on through a restart takeover`, async () => {
        const backend = await kind.setup();
        let armed = false;
        const dying = await backend.crashing(point, () => armed);
        const healthy = await backend.open();
        const f = await fleet([healthy]);
        vaultNow = () => f.clock.now();
        const [b] = f.brokers as [(typeof f.brokers)[number]];
        const a = f.add(dying);
        try {
          await importValidator(a);
          const p1 = f.pod(slotA, 'uid-1');
          armed = true;
          // What the dying broker answers (its store wraps the crash as a fault: 503) reaches no one.
          await expect(a.grants.fetch(p1, validator, f.ephemeral)).rejects.toThrow();
          armed = false;

          // The pod retries through another broker: it gets its grant either way.
          const again = await b.grants.fetch(p1, validator, f.ephemeral);
          expect(again.grant.claims.epoch).toBe(1);
          const before = await expectSound(healthy, b);
          const issued = before.effective.filter((e) => e.action === 'grant_issued' || e.action === 'grant_reissued');
          // Committed before the crash: the retry re-issues; not committed: the retry issues. Never both issued twice.
          expect(issued.filter((e) => e.action === 'grant_issued')).toHaveLength(1);
          expect(issued.length).toBe(point === 'before-send' || point === 'before-commit' || point === 'after-intent' ? 1 : 2);
          // Vault: the dead broker's open intent was fenced and stays in the chain, followed by its abort record.
          const aborts = (await healthy.readChain(validator, 1, 100)).filter((e) => e.reason === 'intent_aborted');
          expect(aborts).toHaveLength(point === 'after-intent' ? 1 : 0);

          // The pod restarts: the takeover raises the epoch, the new instance waits out the horizon, then holds.
          const p2 = f.pod(slotA, 'uid-2');
          await expect(b.grants.fetch(p2, validator, f.ephemeral)).rejects.toMatchObject({ code: 'not_before' } satisfies Partial<KeyholdError>);
          f.clock.advance(testHorizon);
          const held = await b.grants.fetch(p2, validator, f.ephemeral);
          expect(held.grant.claims.epoch).toBe(2);
          const { record } = await expectSound(healthy, b);
          expect(record.designation).toMatchObject({ epoch: 2, podUid: 'uid-2', state: 'held' });
        } finally {
          await f.close();
        }
      });
    }
  });
}

const testHorizon = 10 * 60_000;
