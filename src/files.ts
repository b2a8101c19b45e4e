// Files that hold secrets (the key encryption key, signing keys, the dev
// credentials): created 0600 in a 0700 folder, and refused when anyone else
// can read them.

import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from './config';

export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}

/**
 * Read a secret file, refusing one that every user may read, or that anyone
 * but its owner may change. Group read is allowed: Kubernetes mounts Secrets
 * owned by root and readable by the pod's fsGroup (defaultMode 0440).
 */
export async function readSecretFile(path: string, setting: string): Promise<Buffer> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch {
    throw new ConfigError(`${setting}: ${path} does not exist`);
  }
  if ((mode & 0o007) !== 0 || (mode & 0o020) !== 0) {
    throw new ConfigError(`${setting}: ${path} is open to other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  }
  return readFile(path);
}

/** Create a secret file exclusively; false when it already exists. */
export async function createSecretFile(path: string, content: string | Uint8Array): Promise<boolean> {
  await ensurePrivateDir(dirname(path));
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600);
  return true;
}
