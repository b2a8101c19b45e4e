import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fileNames, hasKeyFiles, lighthouseDefinitions, readGrant, wipeDir, writeFileAtomic, writeKeyBundle, type GrantRecord } from './key-files';

let dir: string;
let outside: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-keys-'));
  outside = await mkdtemp(join(tmpdir(), 'keyhold-db-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const record: GrantRecord = { validator: 'v1', slot: 'local/validators/v1-0', podUid: 'u1', epoch: 2, iat: 100, exp: 115, jti: 'j', sentAt: 99_500 };

describe('key files', () => {
  it('writes 0400 files by rename, leaving no temporary name behind', async () => {
    await writeFileAtomic(dir, 'keystore.json', '{"a":1}');
    const first = (await stat(join(dir, 'keystore.json'))).ino;
    expect(await mode(join(dir, 'keystore.json'))).toBe(0o400);
    // Replacing a 0400 file works (rename, not open-for-write) and makes a new inode:
    // a reader that opened the old file keeps whole old content, never a mix.
    await writeFileAtomic(dir, 'keystore.json', '{"a":2}');
    expect((await stat(join(dir, 'keystore.json'))).ino).not.toBe(first);
    expect(await readFile(join(dir, 'keystore.json'), 'utf8')).toBe('{"a":2}');
    expect(await readdir(dir)).toEqual(['keystore.json']);
  });

  it('replaces a symlink planted at the target instead of writing through it', async () => {
    const victim = join(outside, 'victim');
    await writeFile(victim, 'untouched');
    await symlink(victim, join(dir, 'password.txt'));
    await writeFileAtomic(dir, 'password.txt', 'pw');
    expect((await lstat(join(dir, 'password.txt'))).isFile()).toBe(true);
    expect(await readFile(victim, 'utf8')).toBe('untouched');
  });

  it('writes the whole bundle, lighthouse definitions and the interchange included', async () => {
    const files = new Map([
      ['keystore.json', Buffer.from('{"crypto":{}}')],
      ['password.txt', Buffer.from('secret')],
    ]);
    const sp = '{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x00"},"data":[]}';
    await writeKeyBundle(dir, { format: 'eip2335', publicId: '0xabc', files, slashingProtection: sp }, { token: 'a.b.c', record });
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(['grant.json', 'grant.jwt', 'keystore.json', 'password.txt', 'slashing-protection.json', 'validator_definitions.yml']);
    for (const n of names) expect(await mode(join(dir, n))).toBe(0o400);
    expect(await readFile(join(dir, fileNames.slashingImport), 'utf8')).toBe(sp);
    const defs = await readFile(join(dir, fileNames.definitions), 'utf8');
    expect(defs).toBe(lighthouseDefinitions(dir, '0xabc', 'v1'));
    expect(parse(defs)).toEqual([expect.objectContaining({ enabled: true, voting_public_key: '0xabc', type: 'local_keystore', voting_keystore_path: join(dir, 'keystore.json'), voting_keystore_password_path: join(dir, 'password.txt') })]);
    expect(await readGrant(dir)).toEqual({ token: 'a.b.c', record });
    expect(await hasKeyFiles(dir)).toBe(true);
  });

  it('runs beforeGrant (the client layout) with the key in place and before grant.jwt, which tells a wrapper to start', async () => {
    const files = new Map([['keystore.json', Buffer.from('{}')], ['password.txt', Buffer.from('pw')]]);
    let seen: string[] = [];
    await writeKeyBundle(dir, { format: 'eip2335', publicId: '0xabc', files, slashingProtection: null }, { token: 'a.b.c', record }, { beforeGrant: async () => void (seen = (await readdir(dir)).sort()) });
    expect(seen).toEqual(['keystore.json', 'password.txt', 'validator_definitions.yml']);
    expect(await readdir(dir)).toContain('grant.jwt');
  });

  it('refuses material file names that would shadow its own files', async () => {
    const files = new Map([['grant.jwt', Buffer.from('x')]]);
    await expect(writeKeyBundle(dir, { format: 'x', publicId: 'p', files, slashingProtection: null }, { token: 't', record })).rejects.toThrow(/not allowed/);
  });

  it('wipes regular files only and never follows a symlink', async () => {
    const db = join(outside, 'slashing_protection.sqlite');
    await writeFile(db, 'the real slashing database');
    const dbMode = await mode(db);
    await symlink(db, join(dir, 'slashing_protection.sqlite'));
    await writeFileAtomic(dir, 'keystore.json', 'key');
    await writeFileAtomic(dir, 'grant.jwt', 'grant');
    await writeFile(join(dir, 'validator_key_cache.json'), 'decrypted cache', { mode: 0o600 });
    await mkdir(join(dir, 'subdir'));
    await writeFile(join(dir, 'subdir', 'kept'), 'not ours to walk into');
    const removed = await wipeDir(dir);
    expect(removed.sort()).toEqual(['grant.jwt', 'keystore.json', 'validator_key_cache.json']);
    expect((await readdir(dir)).sort()).toEqual(['slashing_protection.sqlite', 'subdir']);
    expect(await readlink(join(dir, 'slashing_protection.sqlite'))).toBe(db);
    expect(await readFile(db, 'utf8')).toBe('the real slashing database');
    expect(await mode(db)).toBe(dbMode);
    expect(await hasKeyFiles(dir)).toBe(false);
    expect(await wipeDir(join(dir, 'missing'))).toEqual([]);
  });

  it('does not chmod or zero a symlink target even when it is the only entry', async () => {
    const target = join(outside, 'target');
    await writeFile(target, 'keep me', { mode: 0o644 });
    await symlink(target, join(dir, 'keystore.json'));
    await wipeDir(dir);
    expect(await readFile(target, 'utf8')).toBe('keep me');
    expect(await mode(target)).toBe(0o644);
  });
});
