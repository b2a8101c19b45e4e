// Both write-once witnesses on the wire, through the official clients:
// S3 Object Lock on moto, and a GCS bucket with a locked retention policy on
// the project's JSON API emulator. Each is attacked as someone with write
// access to the bucket (the broker's own role, or a stolen copy of it) would:
// replace a checkpoint, delete it, delete its retained version. The witness
// must refuse or show each, and what it still vouches for is the original.

import { CreateBucketCommand, DeleteObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedCheckpoint } from '../../src/core/checkpoints';
import { witnessKey } from '../../src/core/witness';
import type { CheckpointWitness } from '../../src/ports';
import { GcsWitness } from '../../src/stores/gcs-witness/witness';
import { S3Witness } from '../../src/stores/s3-witness/witness';
import { readNewestWitnessed } from '../../src/witness/read';
import { startGcsEmulator, type GcsEmulator } from '../emulators/gcs/server';
import { describeWithMoto, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';

const cp = (seq: number): SignedCheckpoint => ({ seq, prev: '0'.repeat(64), time: 1000 * seq, maxLagMs: 180_000, heads: [{ chain: 'v1', seq, hash: 'a'.repeat(64) }], digest: seq.toString(16).padStart(64, '0'), signature: 'h.p.s' });

interface Rig {
  readonly witness: CheckpointWitness;
  /** What the store itself does with a replacement and a plain delete: S3 keeps versions, GCS retention refuses both. */
  readonly store: { readonly replace: 'refused' | 'accepted'; readonly remove: 'refused' | 'accepted' };
  /** An attacker's client on the same bucket: each resolves to what the store answered. */
  replace(seq: number, body: string): Promise<'refused' | 'accepted'>;
  remove(seq: number): Promise<'refused' | 'accepted'>;
  /** Delete the retained (first) version itself. */
  purge(seq: number): Promise<'refused' | 'accepted'>;
  /** A witness on a bucket that is not write-once. */
  unlocked(): Promise<CheckpointWitness>;
}

const outcome = (p: Promise<unknown>): Promise<'refused' | 'accepted'> => p.then(
  () => 'accepted' as const,
  () => 'refused' as const,
);

function describeWitness(name: string, describeFn: (n: string, f: () => void) => void, make: () => Promise<Rig>): void {
  describeFn(`checkpoint witness: ${name}`, () => {
    let rig: Rig;
    beforeAll(async () => {
      rig = await make();
    });
    afterAll(() => rig?.witness.close());

    it('writes each checkpoint once and reads the newest back', async () => {
      expect(await rig.witness.writeOnce()).toBe(true);
      expect(await rig.witness.put(cp(1))).toBe(true);
      expect(await rig.witness.put(cp(2))).toBe(true);
      // A second broker copying the same checkpoint finds it there: not an error, not a second copy.
      expect(await rig.witness.put(cp(2))).toBe(false);
      const r = await readNewestWitnessed(rig.witness);
      expect(r.newest).toEqual(cp(2));
      expect(r.checkpoints).toBe(2);
      expect(r.findings).toEqual([]);
    });

    it('keeps vouching for the first copy when the bucket writer replaces and deletes it, and shows what it did', async () => {
      await rig.witness.put(cp(3));
      expect(await rig.replace(3, JSON.stringify({ ...cp(3), digest: 'f'.repeat(64) }))).toBe(rig.store.replace);
      expect(await rig.remove(3)).toBe(rig.store.remove);
      expect(await rig.purge(3)).toBe('refused');
      const r = await readNewestWitnessed(rig.witness);
      expect(r.newest).toEqual(cp(3));
      // What the store accepted, the reader shows; what it refused left nothing to show.
      expect(r.findings.map((f) => f.kind).sort()).toEqual([...(rig.store.remove === 'accepted' ? ['deleted'] : []), ...(rig.store.replace === 'accepted' ? ['overwritten'] : [])]);
    });

    it('passes over a forged newer object that holds no checkpoint, and reports it', async () => {
      await rig.replace(9, 'forged');
      const r = await readNewestWitnessed(rig.witness);
      expect(r.newest?.seq).toBe(3);
      expect(r.findings).toContainEqual({ kind: 'malformed', key: expect.stringContaining('checkpoint-000000000009.json') });
    });

    it('says so when the bucket is not write-once', async () => {
      const w = await rig.unlocked();
      try {
        expect(await w.writeOnce()).toBe(false);
      } finally {
        w.close();
      }
    });
  });
}

let moto: Moto | undefined;
let gcs: GcsEmulator | undefined;
afterAll(async () => {
  await Promise.allSettled([moto?.stop(), gcs?.close()]);
});

describeWitness('s3 object lock (moto)', describeWithMoto, async () => {
  moto = await startMoto();
  const raw = new S3Client({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials, forcePathStyle: true });
  await raw.send(new CreateBucketCommand({ Bucket: 'keyhold-witness', ObjectLockEnabledForBucket: true }));
  await raw.send(new CreateBucketCommand({ Bucket: 'keyhold-plain' }));
  const prefix = 'ledger/';
  const witness = new S3Witness({ bucket: 'keyhold-witness', prefix, retentionDays: 1, endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
  return {
    witness,
    store: { replace: 'accepted', remove: 'accepted' },
    replace: (seq, body) => outcome(raw.send(new PutObjectCommand({ Bucket: 'keyhold-witness', Key: witnessKey(prefix, seq), Body: body }))),
    remove: (seq) => outcome(raw.send(new DeleteObjectCommand({ Bucket: 'keyhold-witness', Key: witnessKey(prefix, seq) }))),
    async purge(seq) {
      const l = await raw.send(new ListObjectVersionsCommand({ Bucket: 'keyhold-witness', Prefix: witnessKey(prefix, seq) }));
      const first = l.Versions![l.Versions!.length - 1]!;
      return outcome(raw.send(new DeleteObjectCommand({ Bucket: 'keyhold-witness', Key: first.Key, VersionId: first.VersionId })));
    },
    unlocked: async () => new S3Witness({ bucket: 'keyhold-plain', prefix, retentionDays: 1, endpoint: moto!.endpoint, region: motoRegion, credentials: motoCredentials }),
  };
});

describeWitness('gcs locked retention (emulator)', describe, async () => {
  gcs = await startGcsEmulator();
  const storage = new Storage({ apiEndpoint: gcs.address, projectId: 'keyhold-test' });
  const [bucket] = await storage.createBucket('keyhold-witness', { retentionPolicy: { retentionPeriod: 86_400 } });
  const [meta] = await bucket.getMetadata();
  await bucket.lock(meta.metageneration!);
  await storage.createBucket('keyhold-plain', { retentionPolicy: { retentionPeriod: 86_400 } }); // retained, but not locked
  const prefix = 'ledger/';
  const witness = new GcsWitness({ bucket: 'keyhold-witness', prefix, endpoint: gcs.address, projectId: 'keyhold-test' });
  return {
    witness,
    store: { replace: 'refused', remove: 'refused' },
    replace: (seq, body) => outcome(bucket.file(witnessKey(prefix, seq)).save(body, { resumable: false })),
    remove: (seq) => outcome(bucket.file(witnessKey(prefix, seq)).delete()),
    purge: (seq) => outcome(bucket.file(witnessKey(prefix, seq)).delete()),
    unlocked: async () => new GcsWitness({ bucket: 'keyhold-plain', prefix, endpoint: gcs!.address, projectId: 'keyhold-test' }),
  };
});
