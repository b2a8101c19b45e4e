// The two attacks of issue 14, done to each state store's own records by
// someone who can write to the store but does not hold the broker's signing
// key. Without a trust anchor both still verify (that is the attack); with
// the checkpoint a previous `audit verify --save-trust` kept, both fail.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodeVault from 'node-vault';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyExportFile } from '../../src/cli/verify-file';
import type { Broker } from '../../src/compose';
import { nextCheckpoint } from '../../src/core/checkpoints';
import { sealAll, type LedgerEntry } from '../../src/core/ledger';
import type { StateStore, StoredCheckpoint } from '../../src/ports';
import { dynamoClient } from '../../src/stores/dynamodb/state-store';
import { firestoreClient } from '../../src/stores/firestore/state-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/server';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { motoAvailable, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';
import { dynamoBackend, firestoreBackend, requireTool, vaultBackend } from './backends';
import { fleet, importValidator, slotA, slotB, validator, type Fleet } from './harness';
import { rawDynamo, rawFirestore, rawSqlite, rawVault, type RawLedger } from './raw-ledger';

let moto: Moto | undefined;
let firestore: FirestoreEmulator | undefined;
let vault: VaultEmulator | undefined;
afterAll(async () => {
  await Promise.allSettled([moto?.stop(), firestore?.stop(), vault?.close()]);
});

interface Rig {
  readonly store: StateStore;
  /** A store instance that has never read this ledger (no cache), on the same records. */
  fresh(): Promise<StateStore>;
  readonly raw: RawLedger;
}

const kinds: { name: string; skip: string | undefined; rig(): Promise<Rig> }[] = [
  {
    name: 'sqlite',
    skip: undefined,
    async rig() {
      const store = new SqliteStateStore(':memory:');
      return { store, fresh: async () => store, raw: rawSqlite(store) };
    },
  },
  {
    name: 'dynamodb (moto)',
    skip: requireTool(motoAvailable(), 'moto_server'),
    async rig() {
      moto ??= await startMoto();
      const b = await dynamoBackend(moto.endpoint);
      return { store: await b.open(), fresh: () => b.open(), raw: rawDynamo(dynamoClient({ region: motoRegion, endpoint: moto.endpoint, credentials: motoCredentials }), b.table) };
    },
  },
  {
    name: 'firestore (emulator)',
    skip: requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator'),
    async rig() {
      firestore ??= await startFirestoreEmulator();
      const b = await firestoreBackend(firestore.host);
      return { store: await b.open(), fresh: () => b.open(), raw: rawFirestore(firestoreClient({ projectId: b.projectId, databaseId: '(default)', emulatorHost: firestore.host })) };
    },
  },
  {
    name: 'vault kv v2 (emulator)',
    skip: undefined,
    async rig() {
      vault ??= await startVaultEmulator();
      const b = await vaultBackend(vault);
      return { store: await b.open(), fresh: () => b.open(), raw: rawVault(nodeVault({ apiVersion: 'v1', endpoint: vault.address, token: vault.token }), b.prefix) };
    },
  },
];

/** A ledger over two chains with three checkpoints, and the trust the last verify saved. */
async function history(f: Fleet, b: Broker): Promise<{ trust: StoredCheckpoint; checkpoints: StoredCheckpoint[] }> {
  await importValidator(b);
  await b.operations.checkpoint();
  await b.grants.fetch(f.pod(slotA, 'uid-1'), validator, f.ephemeral);
  await b.operations.checkpoint();
  await b.grants.fetch(f.pod(slotB, 'uid-x'), validator, f.ephemeral).catch(() => undefined); // denied: not designated
  await b.grants.fetch(f.pod(slotA, 'uid-2'), validator, f.ephemeral).catch(() => undefined); // takeover, then a wait
  await b.operations.checkpoint();
  const report = await b.operations.verify();
  expect(report.problem).toBeNull();
  expect(report.checkpoints).toBe(3);
  return { trust: report.trust!, checkpoints: await b.parts.state.listCheckpoints(1, 100) };
}

const whole = (s: StateStore, chain: string): Promise<LedgerEntry[]> => s.readChain(chain, 1, 10_000);

for (const kind of kinds) {
  (kind.skip ? describe.skip : describe)(`audit verify --trust on ${kind.name}${kind.skip ? ` (skipped: ${kind.skip})` : ''}`, () => {
    it('catches a chain rewritten with its hashes recomputed and every checkpoint deleted', async () => {
      const rig = await kind.rig();
      const f = await fleet([rig.store]);
      try {
        const { trust, checkpoints } = await history(f, f.brokers[0]!);
        const chain = await whole(rig.store, validator);
        // Who imported the key becomes someone else; every later hash is recomputed, so the chain is valid on its own.
        const drafts = chain.map(({ seq: _s, prevHash: _p, hash: _h, ...d }, i) => (i === 0 ? { ...d, actor: 'operator:mallory' } : d));
        const forged = sealAll(drafts, new Map([[validator, null]]));
        await rig.raw.writeChain(validator, forged, chain.length);
        await rig.raw.deleteCheckpoints(checkpoints.map((c) => c.seq));

        const tampered = await rig.fresh();
        expect((await whole(tampered, validator))[0]!.actor).toBe('operator:mallory');
        expect(await tampered.listCheckpoints(1, 100)).toEqual([]);
        const b = f.add(tampered);
        const blind = await b.operations.verify();
        expect(blind.problem).toBeNull(); // what the issue reports: `ledger OK`
        expect((await b.operations.verify(trust)).problem).toEqual({ chain: '_checkpoints', seq: trust.seq, fault: 'trust_missing' });
        // And once the schedule's lag has passed, uncovered entries give it away even without the anchor.
        f.clock.advance(6 * 60_000);
        expect((await b.operations.verify()).problem).toMatchObject({ fault: 'uncovered' });
      } finally {
        await f.close();
      }
    });

    it('catches a chain rewritten with its hashes recomputed and its checkpoints kept: the broker will not sign over it, and a checkpoint signed over it anyway fails against the anchor', async () => {
      const rig = await kind.rig();
      const f = await fleet([rig.store]);
      try {
        const { trust } = await history(f, f.brokers[0]!);
        const chain = await whole(rig.store, validator);
        const drafts = chain.map(({ seq: _s, prevHash: _p, hash: _h, ...d }, i) => (i === 0 ? { ...d, actor: 'operator:mallory' } : d));
        await rig.raw.writeChain(validator, sealAll(drafts, new Map([[validator, null]])), chain.length);

        const tampered = await rig.fresh();
        const b = f.add(tampered);
        // A decision on top of the rewritten chain, then a checkpoint: signing it
        // would vouch for the rewrite (its head moved on, so nothing compares the old hash).
        await b.grants.fetch(f.pod(slotA, 'uid-3'), validator, f.ephemeral).catch(() => undefined);
        const before = (await tampered.latestCheckpoint())!.seq;
        await expect(b.operations.checkpoint()).rejects.toMatchObject({ code: 'ledger_inconsistent' });
        expect((await tampered.latestCheckpoint())!.seq).toBe(before);
        expect((await b.operations.verify()).problem).toMatchObject({ chain: validator, fault: 'hash_mismatch' });

        // A broker without that check (an older version) signs it: the newest
        // checkpoint then matches the rewrite, and only the anchor still knows the old hash.
        const latest = (await tampered.latestCheckpoint())!;
        const body = nextCheckpoint(latest, await tampered.chainHeads(), f.clock.now(), latest.maxLagMs);
        expect(await tampered.putCheckpoint({ ...body, signature: await b.parts.signer.signStatement({ checkpoint: body.digest }, body.time) })).toBe(true);
        expect((await b.operations.verify()).problem).toBeNull(); // laundered: a blind verify cannot tell
        const anchored = trust.heads.find((h) => h.chain === validator)!;
        expect((await b.operations.verify(trust)).problem).toEqual({ chain: validator, seq: anchored.seq, fault: 'hash_mismatch' });
        // The same verdict offline, from an export and the JWKS alone.
        const dir = await mkdtemp(join(tmpdir(), 'keyhold-trust-'));
        try {
          const file = join(dir, 'ledger.ndjson');
          let text = '';
          for await (const line of b.operations.exportLines()) text += line;
          await writeFile(file, text);
          const jwks = b.parts.signer.jwks();
          expect((await verifyExportFile(file, { jwks })).problem).toBeNull();
          expect((await verifyExportFile(file, { jwks, trusted: trust })).problem).toEqual({ chain: validator, seq: anchored.seq, fault: 'hash_mismatch' });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      } finally {
        await f.close();
      }
    });

    it('catches the newest checkpoints deleted and the chains cut back to an older one', async () => {
      const rig = await kind.rig();
      const f = await fleet([rig.store]);
      try {
        const { trust, checkpoints } = await history(f, f.brokers[0]!);
        const older = checkpoints[0]!;
        await rig.raw.deleteCheckpoints(checkpoints.slice(1).map((c) => c.seq));
        for (const h of (await rig.store.chainHeads())) {
          const kept = older.heads.find((o) => o.chain === h.chain)?.seq ?? 0;
          const chain = await whole(rig.store, h.chain);
          await rig.raw.writeChain(h.chain, chain.slice(0, kept), chain.length);
        }

        const tampered = await rig.fresh();
        expect((await whole(tampered, validator)).length).toBe(older.heads.find((h) => h.chain === validator)!.seq);
        const b = f.add(tampered);
        const blind = await b.operations.verify();
        expect(blind.problem).toBeNull(); // verifies against the older checkpoint
        expect(blind.checkpoint?.seq).toBe(older.seq);
        expect((await b.operations.verify(trust)).problem).toEqual({ chain: '_checkpoints', seq: trust.seq, fault: 'trust_missing' });
        // An anchor at or before what is left still verifies: the trust check is not simply "newer fails".
        expect((await b.operations.verify(older)).problem).toBeNull();
      } finally {
        await f.close();
      }
    });
  });
}
