// The mount layout on a real directory: written for every key a pod holds,
// one key taken out on its fence or release while the others stay.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ClientName } from './config';
import { wipeDir, writeKeyBundle, type GrantRecord } from './key-files';
import { clearMountLayout, removeFromMountLayout, writeMountLayout } from './mount';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'keyhold-mount-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const pubkeys = new Map<string, string>();
async function give(v: string): Promise<void> {
  const hex = randomBytes(48).toString('hex');
  pubkeys.set(v, `0x${hex}`);
  await mkdir(join(root, v), { mode: 0o700 });
  const record: GrantRecord = { validator: v, slot: `c/ns/${v}-0`, podUid: 'u', epoch: 1, iat: 1, exp: 2, jti: v, sentAt: 1 };
  const files = new Map([['keystore.json', Buffer.from(JSON.stringify({ version: 4, pubkey: hex, crypto: {} }))], ['password.txt', Buffer.from(`pw-${v}\n`)]]);
  await writeKeyBundle(join(root, v), { format: 'eip2335', publicId: `0x${hex}`, files, slashingProtection: null }, { token: 'a.b.c', record });
}
const settings = (client: ClientName, settingsFile: string | null = null) => ({ client, settingsFile, keyDir: root, keyDirOf: (v: string) => join(root, v), validators: ['v1', 'v2', 'v3'] });
const exists = (p: string) => lstat(join(root, p)).then(() => true, () => false);

describe('mount layout on disk', () => {
  it('nimbus: removing v1 removes exactly its keystore and secret (and its directory), v2 and v3 stay', async () => {
    for (const v of ['v1', 'v2', 'v3']) await give(v);
    const c = settings('nimbus');
    expect((await writeMountLayout(c)).length).toBe(6);
    const [p1, p2, p3] = ['v1', 'v2', 'v3'].map((v) => pubkeys.get(v)!);
    expect(await readFile(join(root, `secrets/${p2}`), 'utf8')).toBe('pw-v2');
    expect((await stat(join(root, `validators/${p2}/keystore.json`))).mode & 0o777).toBe(0o400);
    const removed = await removeFromMountLayout(c, 'v1');
    expect(removed.sort()).toEqual([`secrets/${p1}`, `validators/${p1}/keystore.json`]);
    expect(await exists(`validators/${p1}`)).toBe(false);
    expect((await readdir(join(root, 'validators'))).sort()).toEqual([p2, p3].sort());
    expect((await readdir(join(root, 'secrets'))).sort()).toEqual([p2, p3].sort());
    // The key's own directory is the keeper's to wipe; the layout never touched it.
    expect(await exists('v1/keystore.json')).toBe(true);
  });

  it('lighthouse: the shared definitions file is rewritten without the removed key, with the settings file applied', async () => {
    for (const v of ['v1', 'v2']) await give(v);
    const file = join(root, 'settings.json');
    await writeFile(file, JSON.stringify({ validators: { v2: { fee_recipient: '0x00000000000000000000000000000000000000cc', graffiti: 'two' } } }));
    const c = { ...settings('lighthouse', file), validators: ['v1', 'v2'] };
    await writeMountLayout(c);
    const defs = () => readFile(join(root, 'validator_definitions.yml'), 'utf8').then((t) => parse(t) as { voting_public_key: string; graffiti?: string; suggested_fee_recipient?: string }[]);
    expect((await defs()).map((d) => d.voting_public_key).sort()).toEqual([pubkeys.get('v1'), pubkeys.get('v2')].sort());
    await removeFromMountLayout(c, 'v1');
    await wipeDir(join(root, 'v1')); // what the keeper does next
    const left = await defs();
    expect(left.map((d) => d.voting_public_key)).toEqual([pubkeys.get('v2')]);
    expect(left[0]).toMatchObject({ graffiti: 'two', suggested_fee_recipient: '0x00000000000000000000000000000000000000cc' });
    await removeFromMountLayout(c, 'v2');
    expect(await exists('validator_definitions.yml')).toBe(false);
  });

  it('a bad settings file stops the write and names the field', async () => {
    await give('v1');
    const file = join(root, 'settings.json');
    await writeFile(file, JSON.stringify({ validators: { v1: { gas_limit: -1 } } }));
    await expect(writeMountLayout({ ...settings('teku', file), validators: ['v1'] })).rejects.toThrow(/gas_limit/);
  });

  it('clearing an earlier run\'s layout removes its files but never follows a symlink out of the volume', async () => {
    await give('v1');
    const c = { ...settings('teku'), validators: ['v1'] };
    await writeMountLayout(c);
    const outside = await mkdtemp(join(tmpdir(), 'keyhold-outside-'));
    await writeFile(join(outside, 'victim.json'), 'untouched');
    await symlink(outside, join(root, 'teku', 'keys', 'planted'));
    await clearMountLayout(c);
    expect(await exists('teku')).toBe(true); // the directory holding the symlink stays
    expect(await exists(`teku/keys/${pubkeys.get('v1')}.json`)).toBe(false);
    expect(await readFile(join(outside, 'victim.json'), 'utf8')).toBe('untouched');
    await rm(outside, { recursive: true, force: true });
  });

  it('writes nothing without KEYHOLD_CLIENT', async () => {
    await give('v1');
    expect(await writeMountLayout({ ...settings('nimbus'), client: null })).toEqual([]);
    expect(await exists('validators')).toBe(false);
  });
});
