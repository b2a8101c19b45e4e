// The real `keyhold-hook fetch` and `keeper` holding three validators for one
// validator client through its Keymanager API (a fake client on a real
// socket), against a real broker: one fetch for all, a fence of one removes
// only its key, a key the client keeps listed after its DELETE stops the
// client process, a stray key is deleted at once, and SIGTERM releases the rest.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevPodToken } from '../../src/identity/dev-credentials';
import type { KeeperStatus } from '../../operator-hooks/keeper';
import { startFakeKeymanager, type FakeKeymanager } from '../support/fake-keymanager';
import { Broker, exited, spawnHook, until } from './support/cluster';

const validators = ['km-a', 'km-b', 'km-c'];
const slot = 'local/validators/km-0';
const standby = 'local/validators/km-standby-0';

let broker: Broker;
let km: FakeKeymanager;
let dir: string;
const log: string[] = [];

beforeAll(async () => {
  broker = await Broker.start();
  km = await startFakeKeymanager();
  dir = await mkdtemp(join(tmpdir(), 'keyhold-e2e-km-'));
});
afterAll(async () => {
  await km?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

const hook = (verb: 'fetch' | 'keeper', env: Record<string, string>) => spawnHook(verb, env, log);

describe('keeper in the Keymanager mode, many validators, real broker', () => {
  it('feeds the client every key, removes only a fenced one, stops a client that keeps it, and releases on SIGTERM', async () => {
    const pubkeys = new Map<string, string>();
    for (const v of validators) pubkeys.set(v, `0x${(await broker.importValidator(v, [slot, standby])).publicId.replace(/^0x/, '').toLowerCase()}`);
    const keyDir = join(dir, 'keys');
    await mkdir(keyDir, { mode: 0o700 });
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, await mintDevPodToken(broker.home, { namespace: 'validators', podName: 'km-0', podUid: randomUUID(), ttlSeconds: 3600 }), { mode: 0o600 });
    await writeFile(join(dir, 'km-token'), km.token);
    // The validator client's process, for the keeper to stop when its API cannot be trusted.
    const client = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await writeFile(join(dir, 'client.pid'), String(client.pid));
    const env = {
      KEYHOLD_URL: broker.url,
      KEYHOLD_VALIDATORS: validators.join(','),
      KEYHOLD_TOKEN_FILE: tokenFile,
      KEYHOLD_KEY_DIR: keyDir,
      KEYHOLD_RETRY_MAX_SECONDS: '1',
      KEYHOLD_HTTP_TIMEOUT_SECONDS: '2',
    };
    const fetcher = hook('fetch', env);
    expect(await exited(fetcher)).toBe(0);
    expect(log.join('\n')).toMatch(/granted km-a .*\n.*granted km-b .*\n.*granted km-c /);
    const keeper = hook('keeper', {
      ...env,
      KEYHOLD_KEYMANAGER_URL: km.url.origin,
      KEYHOLD_KEYMANAGER_TOKEN_FILE: join(dir, 'km-token'),
      KEYHOLD_CLIENT: 'lodestar',
      KEYHOLD_SIGNER_PIDFILE: join(dir, 'client.pid'),
      KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '1',
      KEYHOLD_RENEW_MARGIN_SECONDS: '3',
      KEYHOLD_KEEPER_PORT: '0',
      KEYHOLD_RELEASE_TIMEOUT_SECONDS: '5',
      KEYHOLD_PROBE_STATE_FILE: join(dir, 'probe.json'),
    });
    try {
      const port = await until('keeper port', () => Number(/status on :(\d+)/.exec(log.join('\n'))?.[1] ?? 0), 20_000, 50);
      const states = async () => (await (await fetch(`http://127.0.0.1:${port}/state`)).json()) as KeeperStatus[];
      await until('all three keys in the client', () => km.keys.size === 3, 20_000);
      // The client got the merged interchange the broker handed over with each key (none yet: first holders).
      expect([...km.keys.keys()].sort()).toEqual([...pubkeys.values()].sort());

      // A key the client lists without a live grant (left in its data dir) is deleted at once.
      const stray = `0x${'ab'.repeat(48)}`;
      km.keys.set(stray, { keystore: '{}', password: '', interchange: null });
      await until('stray key deleted', () => !km.keys.has(stray), 10_000);

      // A fence of km-b removes only km-b's key; the client keeps the others.
      await broker.promote('km-b', standby);
      await until('km-b fenced', async () => (await states()).find((s) => s.validator === 'km-b')?.state === 'fenced', 20_000);
      await until('km-b acknowledged', () => /km-b: acknowledging the fence: acknowledged/.test(log.join('\n')), 10_000);
      expect([...km.keys.keys()].sort()).toEqual([pubkeys.get('km-a'), pubkeys.get('km-c')].sort());
      expect(client.exitCode).toBeNull();
      expect((await states()).map((s) => s.state)).toEqual(['holding', 'fenced', 'holding']);

      // Lodestar 1.5.1: DELETE answers "deleted" and keeps signing. The keeper stops the client.
      km.keepsDeletedKeys = true;
      await broker.promote('km-c', standby);
      await until('client process stopped', () => client.exitCode !== null || client.signalCode !== null, 30_000);
      await until('km-c acknowledged', () => /km-c: acknowledging the fence: acknowledged/.test(log.join('\n')), 10_000);
      expect(log.join('\n')).toMatch(/still lists .* after answering deleted to its DELETE: stopping the validator client/);
      km.keepsDeletedKeys = false;

      // km-a is still held; SIGTERM releases it and takes its key out of the client.
      expect((await states())[0]!.state).toBe('holding');
      keeper.kill('SIGTERM');
      expect(await exited(keeper)).toBe(0);
      expect(km.keys.has(pubkeys.get('km-a')!)).toBe(false);
      expect(log.join('\n')).toMatch(/km-a: releasing: released at epoch \d+; slashing protection /);
    } catch (e) {
      console.error(log.join('\n'));
      throw e;
    } finally {
      if (keeper.exitCode === null) keeper.kill('SIGKILL');
      if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
    }
  }, 120_000);
});
