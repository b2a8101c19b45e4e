// What keyhold relies on in a real validator client, checked against
// Lodestar itself on a dev chain: keys enter through the Keymanager API with
// their slashing history, the history comes back out, a DELETE's answer is
// not proof that signing stopped, and a handoff between two clients that
// carries the history keeps every validator attesting without a slashing.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeaconNode, interopKeystores, lodestarMissing, slotsPerEpoch, until, ValidatorClient, type InteropKey } from './support/lodestar';

const missing = lodestarMissing();
if (missing !== null && process.env.CI) throw new Error(missing);

// Eight genesis validators, six signed by the node itself so the chain
// finalises; the last two are the keys that move between clients.
const moving = [6, 7];
const password = 'chain-test-password';

interface Interchange {
  metadata: { interchange_format_version: string; genesis_validators_root: string };
  data: { pubkey: string; signed_blocks: { slot: string }[]; signed_attestations: { source_epoch: string; target_epoch: string }[] }[];
}

const maxTarget = (ic: Interchange, pubkey: string): number =>
  Math.max(-1, ...(ic.data.find((d) => d.pubkey.toLowerCase() === pubkey)?.signed_attestations.map((a) => Number(a.target_epoch)) ?? []));

describe.skipIf(missing !== null)(missing === null ? 'Lodestar 1.5.1 on a dev chain' : `Lodestar 1.5.1 on a dev chain (skipped: ${missing})`, () => {
  let beacon: BeaconNode;
  let work: string;
  let keys: InteropKey[];
  const clients: ValidatorClient[] = [];

  beforeAll(async () => {
    beacon = await BeaconNode.start({ validators: 8, inProcess: 6 });
    work = await mkdtemp(join(tmpdir(), 'keyhold-chain-'));
    keys = await interopKeystores(join(work, 'keys'), password, moving[0]!, moving.length);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop({ hard: true })));
    await beacon?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const newClient = async (name: string) => {
    const c = await ValidatorClient.create(beacon, name);
    clients.push(c);
    return c;
  };

  /**
   * The first epoch after `after` in which every moving key was seen live.
   * The node answers liveness only for the current and the previous epoch,
   * so each finished epoch is asked about while it is the previous one.
   */
  const liveAfter = async (after: number): Promise<number> =>
    until(
      `keys ${moving.join(',')} attesting after epoch ${after}`,
      async () => {
        const previous = (await beacon.currentEpoch()) - 1;
        if (previous <= after) return null;
        const live = await beacon.live(moving, previous);
        return moving.every((i) => live.get(i)) ? previous : null;
      },
      12 * slotsPerEpoch * 1000,
      1000,
    );

  it('hands keys from one client to another through the Keymanager API, with their history, and no slashing', async () => {
    const a = await newClient('a');
    await a.start();
    const stores = await Promise.all(keys.map((k) => readFile(k.file, 'utf8')));
    const imported = await a.keymanager!.import(stores, stores.map(() => password));
    expect(imported.data.map((d) => d.status)).toEqual(['imported', 'imported']);
    const firstLive = await liveAfter(await beacon.currentEpoch());

    // Stop the first client, take its history out, and start the second with it.
    await beacon.waitForEpoch(firstLive + 1);
    await a.stop();
    const stoppedAt = await beacon.currentEpoch();
    const history = JSON.parse(await a.exportSlashingProtection()) as Interchange;
    expect(history.metadata.genesis_validators_root).toBe(await beacon.genesisValidatorsRoot());
    for (const k of keys) expect(maxTarget(history, k.pubkey)).toBeGreaterThanOrEqual(firstLive);

    const b = await newClient('b');
    await b.start();
    const handed = await b.keymanager!.import(stores, stores.map(() => password), JSON.stringify(history));
    expect(handed.data.map((d) => d.status)).toEqual(['imported', 'imported']);
    const liveAgain = await liveAfter(stoppedAt).catch((e: unknown) => {
      console.log(b.log.join('').slice(-6000));
      throw e;
    });
    console.log(`handoff: stopped in epoch ${stoppedAt}, attesting again in epoch ${liveAgain} (${liveAgain - stoppedAt - 1} epochs missed)`);

    // What the second client now holds includes the first one's last votes.
    const deleted = await b.keymanager!.delete(keys.map((k) => k.pubkey));
    const after = JSON.parse(deleted.slashing_protection) as Interchange;
    for (const k of keys) expect(maxTarget(after, k.pubkey)).toBeGreaterThanOrEqual(maxTarget(history, k.pubkey));
    await b.stop();

    const s = await beacon.slashings([...moving, 0, 1, 2, 3, 4, 5]);
    expect(s).toEqual({ attester: 0, proposer: 0, slashedValidators: [] });
  });

  it('a DELETE of an active key answers "deleted" while the client keeps the key (why a keeper must list afterwards)', async () => {
    const c = await newClient('c');
    const passwordFile = join(work, 'password.txt');
    await writeFile(passwordFile, password);
    await c.start({ keys: { dir: join(work, 'keys'), passwordFile } });
    const pubkey = keys[0]!.pubkey;
    await until('the key to be listed', async () => (await c.keymanager!.list()).includes(pubkey), 30_000);
    await liveAfter(await beacon.currentEpoch());

    const answer = await c.keymanager!.delete([pubkey]);
    expect(answer.data[0]?.status).toBe('deleted');
    // Lodestar 1.5.1 keeps the signer of an active validator (../shared/CHAIN.md).
    expect(await c.keymanager!.list()).toContain(pubkey);
    await c.stop();
  });
});
