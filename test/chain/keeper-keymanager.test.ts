// A real `keyhold-hook fetch` and `keeper` in the Keymanager mode feed one
// Lodestar validator client three keys from a real broker; a promotion of one
// key fences only that key. Lodestar 1.5.1 answers the DELETE and keeps the
// key (../shared/CHAIN.md), so the keeper must stop the client; the test
// restarts it as the kubelet would, and the chain shows the other two keys
// attesting again and the fenced one silent, with no slashing.

import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevPodToken } from '../../src/identity/dev-credentials';
import { Broker, exited, spawnHook } from '../e2e/support/cluster';
import { BeaconNode, interopKeystores, lodestarMissing, slotsPerEpoch, until, ValidatorClient, type InteropKey } from './support/lodestar';

const missing = lodestarMissing();
if (missing !== null && process.env.CI) throw new Error(missing);

const held = [5, 6, 7];
const fenced = 7;
const password = 'chain-test-password';
const slot = 'local/validators/vc-0';
const standby = 'local/validators/vc-standby-0';
const id = (i: number) => `chain-${i}`;

describe.skipIf(missing !== null)(missing === null ? 'keeper in the Keymanager mode feeding Lodestar 1.5.1' : `keeper in the Keymanager mode feeding Lodestar 1.5.1 (skipped: ${missing})`, () => {
  let beacon: BeaconNode;
  let broker: Broker;
  let work: string;
  let keys: InteropKey[];
  let vc: ValidatorClient;
  let keeper: ChildProcess | null = null;
  const log: string[] = [];

  beforeAll(async () => {
    [beacon, broker] = await Promise.all([BeaconNode.start({ validators: 8, inProcess: 5 }), Broker.start()]);
    work = await mkdtemp(join(tmpdir(), 'keyhold-chain-km-'));
    keys = await interopKeystores(join(work, 'keystores'), password, held[0]!, held.length);
  });
  afterAll(async () => {
    keeper?.kill('SIGKILL');
    await vc?.stop({ hard: true });
    await beacon?.stop();
    await broker?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const hook = (verb: 'fetch' | 'keeper', env: Record<string, string>) => spawnHook(verb, env, log);

  /** The first finished epoch after `after` in which the liveness of `indices` was as `expected`. */
  const epochWhere = (indices: number[], expected: (live: Map<number, boolean>) => boolean, after: number, what: string) =>
    until(
      what,
      async () => {
        const previous = (await beacon.currentEpoch()) - 1;
        if (previous <= after) return null;
        return expected(await beacon.live(indices, previous)) ? previous : null;
      },
      14 * slotsPerEpoch * 1000,
      1000,
    );

  it('fences one key of three: the keeper removes it, stops the client that keeps it, and the other two attest on', async () => {
    const root = await beacon.genesisValidatorsRoot();
    for (const k of keys) await broker.importKeystore(id(k.index), [slot, standby], await readFile(k.file, 'utf8'), password, root);
    vc = await ValidatorClient.create(beacon, 'km');
    await vc.start();
    const kmUrl = vc.keymanager!.url;
    const kmPort = Number(new URL(kmUrl).port);
    const pidfile = join(work, 'vc.pid');
    await writeFile(pidfile, String(vc.pid));
    // The kubelet: a validator container that exits is started again (same data dir, same port).
    let restarts = 0;
    const kubelet = setInterval(() => {
      if (vc.running || restarting) return;
      restarting = true;
      restarts++;
      void vc.start({ keymanagerPort: kmPort }).then(
        () => writeFile(pidfile, String(vc.pid)).finally(() => (restarting = false)),
        () => (restarting = false),
      );
    }, 500);
    let restarting = false;

    const keyDir = join(work, 'keys');
    await mkdir(keyDir, { mode: 0o700 });
    const tokenFile = join(work, 'pod-token');
    await writeFile(tokenFile, await mintDevPodToken(broker.home, { namespace: 'validators', podName: 'vc-0', podUid: randomUUID(), ttlSeconds: 3600 }), { mode: 0o600 });
    const env = {
      KEYHOLD_URL: broker.url,
      KEYHOLD_VALIDATORS: held.map(id).join(','),
      KEYHOLD_TOKEN_FILE: tokenFile,
      KEYHOLD_KEY_DIR: keyDir,
      KEYHOLD_RETRY_MAX_SECONDS: '1',
      KEYHOLD_HTTP_TIMEOUT_SECONDS: '5',
    };
    try {
      expect(await exited(hook('fetch', env))).toBe(0);
      keeper = hook('keeper', {
        ...env,
        KEYHOLD_KEYMANAGER_URL: kmUrl,
        KEYHOLD_KEYMANAGER_TOKEN_FILE: join(vc.dataDir, 'validator-db', 'api-token.txt'),
        KEYHOLD_CLIENT: 'lodestar',
        KEYHOLD_SIGNER_PIDFILE: pidfile,
        KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '2',
        KEYHOLD_RENEW_MARGIN_SECONDS: '4',
        KEYHOLD_KEEPER_PORT: '0',
        KEYHOLD_RELEASE_TIMEOUT_SECONDS: '5',
        KEYHOLD_PROBE_STATE_FILE: join(work, 'probe.json'),
      });
      await until('all three keys in Lodestar', async () => (await vc.keymanager!.list().catch(() => [])).length === 3, 60_000);
      const allLive = await epochWhere(held, (l) => held.every((i) => l.get(i)), await beacon.currentEpoch(), 'all three keys attesting');

      await broker.promote(id(fenced), standby);
      await until('the fenced key acknowledged', () => log.some((l) => l.includes(`${id(fenced)}: acknowledging the fence: acknowledged`)), 60_000);
      expect(log.join('\n')).toMatch(/still lists .* after answering deleted to its DELETE: stopping the validator client/);
      expect(log.join('\n')).toMatch(new RegExp(`${id(fenced)}: acknowledging the fence: acknowledged .*`));
      await until('the client restarted', () => restarts > 0 && vc.running && !restarting, 60_000);
      const fencedAt = await beacon.currentEpoch();

      const others = held.filter((i) => i !== fenced);
      const after = await epochWhere(held, (l) => others.every((i) => l.get(i)) && !l.get(fenced), fencedAt, 'the other two attesting, the fenced one silent');
      console.log(`fence of one key of three: all live in epoch ${allLive}, fenced in epoch ${fencedAt}, the other two live again in epoch ${after} (${after - fencedAt - 1} epochs missed by them after the client stop)`);
      expect((await vc.keymanager!.list()).sort()).toEqual(keys.filter((k) => k.index !== fenced).map((k) => k.pubkey.toLowerCase()).sort());
      expect(await beacon.slashings([...held, 0, 1, 2, 3, 4])).toEqual({ attester: 0, proposer: 0, slashedValidators: [] });
    } catch (e) {
      console.log(log.join('\n').slice(-8000));
      console.log(vc.log.join('').slice(-4000));
      throw e;
    } finally {
      clearInterval(kubelet);
    }
  });
});
