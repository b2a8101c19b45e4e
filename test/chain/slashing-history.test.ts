// Invariant 7 against a real client: Lodestar's own export (version 4
// "complete", with its two non-key entries) is what a keeper hands back on
// release; the broker keeps it; and the merged version 5 interchange the next
// holder receives is one Lodestar imports, after which the key attests again
// with no slashing.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBroker, type TestBroker } from '../support/fixtures';
import { assertValidV5, watermarks, type Interchange } from '../support/interchange';
import { decryptKey, fetchGrant, operatorHeaders, pod, release, slot0, slot1 } from '../http/helpers';
import { BeaconNode, interopKeystores, lodestarMissing, slotsPerEpoch, until, ValidatorClient, type InteropKey } from './support/lodestar';

const missing = lodestarMissing();
if (missing !== null && process.env.CI) throw new Error(missing);

const moving = 7;
const password = 'chain-test-password';

describe.skipIf(missing !== null)(missing === null ? 'slashing history through the broker, Lodestar 1.5.1' : `slashing history through the broker, Lodestar 1.5.1 (skipped: ${missing})`, () => {
  let beacon: BeaconNode;
  let work: string;
  let key: InteropKey;
  let b: TestBroker;
  const clients: ValidatorClient[] = [];

  beforeAll(async () => {
    // Seven of eight genesis validators signed by the node, so the chain finalises; the eighth moves.
    beacon = await BeaconNode.start({ validators: 8, inProcess: 7 });
    work = await mkdtemp(join(tmpdir(), 'keyhold-chain-sp-'));
    key = (await interopKeystores(join(work, 'keys'), password, moving, 1))[0]!;
    b = await testBroker();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop({ hard: true })));
    await beacon?.stop();
    await b?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const liveAfter = (after: number): Promise<number> =>
    until(
      `key ${moving} attesting after epoch ${after}`,
      async () => {
        const previous = (await beacon.currentEpoch()) - 1;
        if (previous <= after) return null;
        return (await beacon.live([moving], previous)).get(moving) ? previous : null;
      },
      12 * slotsPerEpoch * 1000,
      1000,
    );

  it('keeps Lodestar\'s export on release and hands the next holder a history Lodestar imports', async () => {
    const keystore = await readFile(key.file, 'utf8');
    const root = await beacon.genesisValidatorsRoot();
    const path = '/v1/validators/v1/key';
    const body = JSON.stringify({
        format: 'eip2335',
        publicId: key.pubkey,
        files: { 'keystore.json': Buffer.from(keystore).toString('base64'), 'password.txt': Buffer.from(password).toString('base64') },
        slots: [slot0, slot1],
        serviceAccounts: ['validator'],
        genesisValidatorsRoot: root,
      });
    const imported = await b.app.request(path, { method: 'PUT', headers: await operatorHeaders(b, 'PUT', path, body), body });
    expect(imported.status).toBe(201);

    // The first holder signs with client a.
    const first = await pod(slot0);
    const granted = (await (await fetchGrant(b, first)).json()) as { grant: string; predecessor: string };
    expect(granted.predecessor).toBe('none');
    const a = await ValidatorClient.create(beacon, 'a');
    clients.push(a);
    const passwordFile = join(work, 'password.txt');
    await writeFile(passwordFile, password);
    await a.start({ keys: { dir: join(work, 'keys'), passwordFile } });
    const firstLive = await liveAfter(await beacon.currentEpoch());
    await beacon.waitForEpoch(firstLive + 1);
    await a.stop();
    const stoppedAt = await beacon.currentEpoch();

    // Its keeper hands back exactly what Lodestar exports.
    const exported = JSON.parse(await a.exportSlashingProtection()) as Interchange & { metadata: { interchange_format?: string } };
    expect(exported.metadata).toMatchObject({ interchange_format_version: '4', interchange_format: 'complete' });
    // Lodestar's GENESIS_TIME and GENESIS_VALIDATORS_ROOT entries (../shared/CHAIN.md), not keys.
    expect(exported.data.filter((d) => !/^0x[0-9a-f]{96}$/i.test(d.pubkey)).length).toBe(2);
    const res = await release(b, first, granted.grant, exported);
    expect(await res.json()).toEqual({ outcome: 'released', epoch: 1, slashingProtection: 'stored' });

    // The next holder receives valid version 5 keeping every watermark of the export.
    const next = await pod(slot0);
    const nextRes = (await (await fetchGrant(b, next)).json()) as { key: string; predecessor: string };
    expect(nextRes.predecessor).toBe('released');
    const delivered = (await decryptKey(nextRes.key, next.privateKey)).slashingProtection!;
    const merged = assertValidV5(delivered, root);
    expect(merged.data.map((d) => d.pubkey)).toEqual([key.pubkey]);
    const mark = watermarks(merged).get(key.pubkey)!;
    const had = watermarks({ ...exported, data: exported.data.filter((d) => d.pubkey.toLowerCase() === key.pubkey) }).get(key.pubkey)!;
    expect(mark.target).toBeGreaterThanOrEqual(had.target!);
    expect(mark.target).toBeGreaterThanOrEqual(BigInt(firstLive));

    // Client b imports it with the key, and the key attests again, unslashed.
    const c = await ValidatorClient.create(beacon, 'b');
    clients.push(c);
    await c.start();
    const handed = await c.keymanager!.import([keystore], [password], delivered);
    expect(handed.data.map((d) => d.status)).toEqual(['imported']);
    await liveAfter(stoppedAt);
    await c.stop();
    expect(await beacon.slashings([0, 1, 2, 3, 4, 5, 6, moving])).toEqual({ attester: 0, proposer: 0, slashedValidators: [] });
  });
});
