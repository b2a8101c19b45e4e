// What lives in KEYHOLD_KEY_DIR, the pod's memory-backed volume, and the only
// code that writes or wipes it. Every file is written whole under a temporary
// name, fsynced, made 0400 and renamed into place, so a reader (the validator
// wrapper waits for validator_definitions.yml and grant.jwt) never sees half
// a key. Wiping touches regular files only and never follows a symlink: the
// wrapper links slashing_protection.sqlite there to the real database on disk.

import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Predecessor } from './broker-client';
import type { GrantClaimsView } from './ephemeral-key';
import { lighthouseEntry } from './layouts/lighthouse';
import { yamlText, type GrantedKey, type Layout, type LayoutFile, type ValidatorSettings } from './layouts/types';

export const fileNames = {
  grantToken: 'grant.jwt',
  grantRecord: 'grant.json',
  definitions: 'validator_definitions.yml',
  slashingImport: 'slashing-protection.json',
  slashingExport: 'slashing-protection-export.json',
  /** `true` or `false`: whether the client must start with doppelganger detection (doppelganger.ts). */
  doppelganger: 'doppelganger-protection',
} as const;

/** Names a key material file may not take, because they mean something else here. */
const reserved = new Set<string>([...Object.values(fileNames), 'slashing_protection.sqlite', 'validator_key_cache.json']);
const materialName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const isAllowedMaterialName = (name: string): boolean => materialName.test(name) && !name.includes('..') && !reserved.has(name);

/** What the keeper needs to know about its grant without trusting its own memory (grant.json). */
export interface GrantRecord extends GrantClaimsView {
  /** Wall-clock ms when the request that obtained this grant was sent. */
  readonly sentAt: number;
  /**
   * How the holder before this one ended (`none`, `released`, `acknowledged`,
   * `unproven`): on `unproven` the validator client should run doppelganger
   * detection before it signs. Absent in files of older hooks.
   */
  readonly predecessor?: Predecessor;
}

export interface KeyBundle {
  readonly format: string;
  readonly publicId: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** EIP-3076 interchange as JSON text, for the validator to import before it starts. */
  readonly slashingProtection: string | null;
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, constants.O_RDONLY);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Write `data` as `dir/name`, mode 0400, atomically. The caller still owns (and wipes) `data`. */
export async function writeFileAtomic(dir: string, name: string, data: Uint8Array | string, opts: { syncDir?: boolean } = {}): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  // O_EXCL: never write through a file (or symlink) someone put there first.
  const h = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o400);
  try {
    await h.writeFile(data);
    await h.chmod(0o400);
    await h.sync();
  } catch (e) {
    await h.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await h.close();
  await rename(tmp, join(dir, name));
  if (opts.syncDir !== false) await fsyncDir(dir);
}

/** Lighthouse's validator_definitions.yml for the one key in `dir` (the one-key form; layouts/lighthouse.ts writes it for many). */
export function lighthouseDefinitions(dir: string, publicId: string, validator: string): string {
  return yamlText([lighthouseEntry({ validator, dir, pubkey: publicId, keystore: '', password: '' })]);
}

/**
 * Everything fetch hands to the validator and the keeper. Order matters: the
 * interchange is in place before the files the wrapper waits for, and
 * grant.jwt comes last because its presence means "complete".
 */
export async function writeKeyBundle(dir: string, bundle: KeyBundle, grant: { token: string; record: GrantRecord }, opts: { beforeGrant?: () => Promise<void> } = {}): Promise<string[]> {
  const written: string[] = [];
  for (const [name, bytes] of bundle.files) {
    if (!isAllowedMaterialName(name)) throw new Error(`key material file name not allowed: ${JSON.stringify(name)}`);
    await writeFileAtomic(dir, name, bytes, { syncDir: false });
    written.push(name);
  }
  if (bundle.slashingProtection !== null) {
    await writeFileAtomic(dir, fileNames.slashingImport, bundle.slashingProtection, { syncDir: false });
    written.push(fileNames.slashingImport);
  }
  if (bundle.format === 'eip2335' && bundle.files.has('keystore.json') && bundle.files.has('password.txt')) {
    await writeFileAtomic(dir, fileNames.definitions, lighthouseDefinitions(dir, bundle.publicId, grant.record.validator), { syncDir: false });
    written.push(fileNames.definitions);
  }
  await opts.beforeGrant?.();
  await writeGrant(dir, grant.token, grant.record);
  written.push(fileNames.grantRecord, fileNames.grantToken);
  return written;
}

/** grant.json before grant.jwt: a record newer than its token only ever shortens the holding (an earlier send time is never written over a later one). */
export async function writeGrant(dir: string, token: string, record: GrantRecord): Promise<void> {
  await writeFileAtomic(dir, fileNames.grantRecord, `${JSON.stringify(record)}\n`, { syncDir: false });
  await writeFileAtomic(dir, fileNames.grantToken, token);
}

export async function readGrant(dir: string): Promise<{ token: string; record: GrantRecord } | null> {
  try {
    const [token, raw] = await Promise.all([readFile(join(dir, fileNames.grantToken), 'utf8'), readFile(join(dir, fileNames.grantRecord), 'utf8')]);
    const r = JSON.parse(raw) as Partial<GrantRecord>;
    const numbers = [r.epoch, r.iat, r.exp, r.sentAt];
    if (numbers.some((n) => typeof n !== 'number' || !Number.isFinite(n)) || typeof r.validator !== 'string' || typeof r.jti !== 'string') return null;
    return { token: token.trim(), record: r as GrantRecord };
  } catch {
    return null;
  }
}

/** Whether any file the signer could use (a grant or key material) is present. */
export async function hasKeyFiles(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => n === fileNames.grantToken || n === fileNames.definitions || n === 'keystore.json' || n === 'password.txt');
}

/**
 * Overwrite and remove every regular file directly in `dir`. Symlinks,
 * directories and anything else are left alone, and no path is followed:
 * each file is opened with O_NOFOLLOW and checked to be the same inode
 * before it is overwritten. Returns the names removed.
 */
export async function wipeDir(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let st: Stats;
    try {
      st = await lstat(path);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    await overwrite(path, st).catch(() => undefined);
    try {
      await unlink(path);
      removed.push(name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  if (removed.length > 0) await fsyncDir(dir).catch(() => undefined);
  return removed;
}

const layoutPath = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

function checkLayoutPath(path: string): string {
  if (!layoutPath.test(path) || path.split('/').includes('..')) throw new Error(`layout path not allowed: ${JSON.stringify(path)}`);
  return path;
}

/** Write a layout's files under `root`, each atomically, making the directories (0700) they need. */
export async function writeLayout(root: string, files: readonly LayoutFile[]): Promise<string[]> {
  for (const f of files) {
    const path = join(root, checkLayoutPath(f.path));
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(dirname(path), f.path.split('/').pop()!, f.content, { syncDir: false });
  }
  if (files.length > 0) await fsyncDir(root).catch(() => undefined);
  return files.map((f) => f.path);
}

/**
 * Take one key out of a layout and leave the others: its own files are
 * zeroed and removed (and the directories that held only them), and the
 * files every key shares are written again from the keys that stay.
 */
export async function removeFromLayout(root: string, layout: Layout, gone: GrantedKey, remaining: readonly GrantedKey[]): Promise<string[]> {
  const after = layout.files(root, remaining);
  const kept = new Set(after.map((f) => f.path));
  const removed: string[] = [];
  for (const f of layout.files(root, [...remaining, gone])) {
    if (kept.has(f.path)) continue;
    const path = join(root, checkLayoutPath(f.path));
    if (await wipeFile(path)) removed.push(f.path);
    for (let d = dirname(f.path); d !== '.'; d = dirname(d)) {
      if (!(await rmdir(join(root, d)).then(() => true, () => false))) break;
    }
  }
  await writeLayout(root, after.filter((f) => f.owner === null));
  return removed;
}

/** Remove what an earlier run left of a layout: every regular file under its owned entries, never following a symlink. */
export async function wipeLayout(root: string, layout: Layout): Promise<void> {
  for (const entry of layout.owned) await wipeTree(join(root, checkLayoutPath(entry)));
}

async function wipeTree(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (st === null) return;
  if (st.isFile()) {
    await wipeFile(path);
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of await readdir(path)) await wipeTree(join(path, name));
  await rmdir(path).catch(() => undefined);
}

async function wipeFile(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => null);
  if (st === null || !st.isFile()) return false;
  await overwrite(path, st).catch(() => undefined);
  return unlink(path).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
}

/** The key fetch left in `dir`, as a layout takes it; null when it is not (or no longer) there. */
export async function readGrantedKey(validator: string, dir: string, settings?: ValidatorSettings): Promise<GrantedKey | null> {
  const read = (n: string) => readFile(join(dir, n), 'utf8').catch(() => null);
  const [keystore, password] = await Promise.all([read('keystore.json'), read('password.txt')]);
  if (keystore === null || password === null) return null;
  let pk: unknown;
  try {
    pk = (JSON.parse(keystore) as { pubkey?: unknown }).pubkey;
  } catch {
    return null;
  }
  if (typeof pk !== 'string' || !/^(0x)?[0-9a-fA-F]{96}$/.test(pk)) return null;
  const pubkey = `0x${pk.replace(/^0x/, '').toLowerCase()}`;
  return { validator, dir, pubkey, keystore, password: password.trim(), ...(settings !== undefined ? { settings } : {}) };
}

/** Zero a 0400 file in place (tmpfs pages are otherwise only freed, not cleared). */
async function overwrite(path: string, seen: Stats): Promise<void> {
  const ro = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await ro.stat();
    if (!st.isFile() || st.ino !== seen.ino || st.dev !== seen.dev) return;
    await ro.chmod(0o600);
    const rw = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const again = await rw.stat();
      if (again.ino !== st.ino || again.dev !== st.dev) return;
      const zeros = Buffer.alloc(Math.min(st.size, 1 << 20));
      for (let pos = 0; pos < st.size; pos += zeros.length) await rw.write(zeros, 0, Math.min(zeros.length, st.size - pos), pos);
      await rw.sync();
    } finally {
      await rw.close();
    }
  } finally {
    await ro.close();
  }
}
