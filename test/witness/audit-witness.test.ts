// The broker copies every checkpoint to the witness, and `keyhold audit verify
// --witness` anchors on what the witness holds, with nothing kept by hand:
// the two attacks of issue 14, done to the state store's own records, pass a
// plain verify and fail this one. The witness is the GCS emulator (locked
// retention) reached through the official client.

import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAll } from '../../src/core/ledger';
import type { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { GcsWitness } from '../../src/stores/gcs-witness/witness';
import { readNewestWitnessed } from '../../src/witness/read';
import { startGcsEmulator, type GcsEmulator } from '../emulators/gcs/server';
import { fetchGrant, importValidator, pod, slot0 } from '../http/helpers';
import { rawSqlite } from '../state-stores/raw-ledger';
import { cliRig, type CliRig } from '../support/cli';

let gcs: GcsEmulator;
const project = 'keyhold-test';

async function lockedBucket(name: string): Promise<void> {
  const storage = new Storage({ apiEndpoint: gcs.address, projectId: project });
  const [bucket] = await storage.createBucket(name, { retentionPolicy: { retentionPeriod: 86_400 } });
  const [meta] = await bucket.getMetadata();
  await bucket.lock(meta.metageneration!);
}

beforeAll(async () => {
  gcs = await startGcsEmulator();
  await lockedBucket('keyhold-ledger');
});
afterAll(() => gcs?.close());

async function rigWithHistory(): Promise<{ rig: CliRig; witness: GcsWitness; env: Record<string, string> }> {
  const witness = new GcsWitness({ bucket: 'keyhold-ledger', prefix: `prod/${Math.random().toString(36).slice(2)}/`, endpoint: gcs.address, projectId: project });
  const rig = await cliRig({ witness });
  const env = { KEYHOLD_GCS_ENDPOINT: gcs.address, KEYHOLD_GCP_PROJECT: project };
  await importValidator(rig.b);
  await fetchGrant(rig.b, await pod(slot0));
  expect((await rig.cli(['audit', 'checkpoint'])).code).toBe(0);
  for (let i = 0; i < 2; i++) await fetchGrant(rig.b, await pod(slot0));
  expect((await rig.cli(['audit', 'checkpoint'])).code).toBe(0);
  return { rig, witness, env };
}

const witnessUrl = (w: GcsWitness) => w.name;
const db = (rig: CliRig) => (rig.b.parts.state as SqliteStateStore).rawDatabase();

describe('keyhold audit verify --witness', () => {
  it('finds every checkpoint the broker signed in the witness, and verifies against the newest', async () => {
    const { rig, witness, env } = await rigWithHistory();
    try {
      const stored = await rig.b.parts.state.listCheckpoints(1, 100);
      const read = await readNewestWitnessed(witness);
      expect(read.checkpoints).toBe(stored.length);
      expect(read.newest).toEqual(stored[stored.length - 1]);
      const r = await rig.cli(['audit', 'verify', '--witness', witnessUrl(witness)], { env });
      expect(r.stdout).toContain(`extends trusted checkpoint #${stored.length}`);
      expect(r.stdout).toContain(`witness ${witnessUrl(witness)}: ${stored.length} checkpoints, newest #${stored.length}, write-once`);
      expect(r.code).toBe(0);
      const j = await rig.cli(['audit', 'verify', '--witness', witnessUrl(witness), '--format', 'json'], { env });
      expect(JSON.parse(j.stdout)[0].witness).toEqual({ witness: witnessUrl(witness), writeOnce: true, checkpoints: stored.length, newest: stored.length, findings: [] });
    } finally {
      rig.close();
    }
  });

  it('catches the newest checkpoints deleted and the chains cut back, which a plain verify passes', async () => {
    const { rig, witness, env } = await rigWithHistory();
    try {
      const stored = await rig.b.parts.state.listCheckpoints(1, 100);
      const older = stored[0]!;
      db(rig).prepare('DELETE FROM checkpoint_chain WHERE seq > ?').run(older.seq);
      for (const h of older.heads) db(rig).prepare('DELETE FROM ledger WHERE chain = ? AND seq > ?').run(h.chain, h.seq);
      expect((await rig.cli(['audit', 'verify'])).code).toBe(0);
      const caught = await rig.cli(['audit', 'verify', '--witness', witnessUrl(witness)], { env });
      expect(caught.stdout).toContain(`ledger TAMPERED: checkpoint chain, checkpoint ${stored.length} (trust_missing)`);
      expect(caught.code).toBe(1);
    } finally {
      rig.close();
    }
  });

  it('catches a chain rewritten with its hashes recomputed and every checkpoint deleted', async () => {
    const { rig, witness, env } = await rigWithHistory();
    try {
      const state = rig.b.parts.state as SqliteStateStore;
      const chain = await state.readChain('v1', 1, 10_000);
      const drafts = chain.map(({ seq: _s, prevHash: _p, hash: _h, ...d }, i) => (i === 0 ? { ...d, actor: 'operator:mallory' } : d));
      await rawSqlite(state).writeChain('v1', sealAll(drafts, new Map([['v1', null]])), chain.length);
      await rawSqlite(state).deleteCheckpoints((await state.listCheckpoints(1, 100)).map((c) => c.seq));
      expect((await rig.cli(['audit', 'verify'])).code).toBe(0);
      const caught = await rig.cli(['audit', 'verify', '--witness', witnessUrl(witness)], { env });
      expect(caught.stdout).toMatch(/^ledger TAMPERED: /);
      expect(caught.code).toBe(1);
    } finally {
      rig.close();
    }
  });

  it('fails on a witness that is not write-once, and refuses a URL that is not one', async () => {
    const storage = new Storage({ apiEndpoint: gcs.address, projectId: project });
    await storage.createBucket('keyhold-unlocked', { retentionPolicy: { retentionPeriod: 86_400 } });
    const { rig, env } = await rigWithHistory();
    try {
      const r = await rig.cli(['audit', 'verify', '--witness', 'gs://keyhold-unlocked/prod/'], { env });
      expect(r.stdout).toContain('NOT write-once');
      expect(r.code).toBe(1);
      expect((await rig.cli(['audit', 'verify', '--witness', 'https://example.com/x'], { env })).code).toBe(2);
    } finally {
      rig.close();
    }
  });

  it('never fails a decision when the witness is down, and copies what it missed with the next checkpoint', async () => {
    const down = await startGcsEmulator();
    await down.close(); // a port with nothing behind it
    const witness = new GcsWitness({ bucket: 'keyhold-ledger', prefix: `prod/${Math.random().toString(36).slice(2)}/`, endpoint: gcs.address, projectId: project });
    const rig = await cliRig({ witness });
    try {
      await importValidator(rig.b); // an import signs (and witnesses) a checkpoint of its own
      const before = (await readNewestWitnessed(witness)).checkpoints;
      // The next checkpoint while the witness answers nothing: point the same bucket at the dead port.
      const dead = new GcsWitness({ bucket: 'keyhold-ledger', prefix: 'unused/', endpoint: down.address, projectId: project });
      const put = witness.put.bind(witness);
      let failing = true;
      witness.put = (c) => (failing ? dead.put(c) : put(c));
      expect((await rig.cli(['audit', 'checkpoint'])).code).toBe(0);
      expect(rig.b.logs.some((l) => l.includes('"witness_failed"'))).toBe(true);
      expect((await readNewestWitnessed(witness)).checkpoints).toBe(before);
      failing = false;
      await fetchGrant(rig.b, await pod(slot0));
      expect((await rig.cli(['audit', 'checkpoint'])).code).toBe(0);
      const stored = await rig.b.parts.state.listCheckpoints(1, 100);
      const read = await readNewestWitnessed(witness);
      expect(read.checkpoints).toBe(stored.length);
      expect(read.checkpoints).toBe(before + 2);
      expect(read.newest).toEqual(stored[stored.length - 1]);
    } finally {
      rig.close();
    }
  });
});
