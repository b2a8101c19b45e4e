// Finding and stopping the signer (the validator client) from the keeper.
// The pod shares one process namespace and one uid, so the keeper sees the
// validator container's processes in /proc and may signal them. A stopped
// signer is one that has exited; a zombie counts as exited, since it can no
// longer sign and only waits for its parent to reap it.

import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Sleep } from './clock';
import type { Log } from './log';

export interface SignerTarget {
  readonly pidfile: string | null;
  readonly process: string | null;
  readonly graceMs: number;
}

export interface ProcOpts {
  /** /proc, or a stand-in tree in tests. */
  readonly procRoot?: string;
  readonly selfPid?: number;
}

async function readPidfile(path: string): Promise<number | null> {
  const raw = await readFile(path, 'utf8').catch(() => null);
  if (raw === null) return null;
  const pid = Number(raw.trim());
  // Never pid 1 (the pod's pause process) or anything that is not a pid.
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

/** Processes whose comm, or argv[0]'s base name, is `name`. */
export async function findByName(name: string, opts: ProcOpts = {}): Promise<number[]> {
  const root = opts.procRoot ?? '/proc';
  const self = opts.selfPid ?? process.pid;
  const entries = await readdir(root).catch(() => [] as string[]);
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === self || pid <= 1) continue;
    const comm = (await readFile(`${root}/${e}/comm`, 'utf8').catch(() => '')).trim();
    const argv0 = (await readFile(`${root}/${e}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
    if (comm === name || (argv0 !== '' && basename(argv0) === name)) {
      if (await isAlive(pid, opts)) found.push(pid);
    }
  }
  return found;
}

export async function findSigners(target: SignerTarget, opts: ProcOpts = {}): Promise<number[]> {
  const pids = new Set<number>();
  if (target.pidfile !== null) {
    const pid = await readPidfile(target.pidfile);
    if (pid !== null && pid !== (opts.selfPid ?? process.pid) && (await isAlive(pid, opts))) pids.add(pid);
  }
  if (target.process !== null) for (const pid of await findByName(target.process, opts)) pids.add(pid);
  return [...pids];
}

export async function isAlive(pid: number, opts: ProcOpts = {}): Promise<boolean> {
  const root = opts.procRoot ?? '/proc';
  try {
    const stat = await readFile(`${root}/${pid}/stat`, 'utf8');
    // The state letter follows the last ')' (comm itself may contain one).
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (await readdir(root).then(() => true, () => false))) return false;
    // No procfs (not Linux): fall back to asking the kernel.
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals, log: Log): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH') log(`cannot send ${sig} to signer pid ${pid} (${code ?? 'error'})`);
  }
}

/**
 * SIGTERM every signer process, SIGKILL what is left after the grace, and
 * return once none is alive (or, after SIGKILL, a short wait has passed).
 * Returns the pids it signalled.
 */
export async function stopSigner(target: SignerTarget, deps: { sleep: Sleep; log: Log; now: () => number } & ProcOpts): Promise<number[]> {
  const pids = await findSigners(target, deps);
  if (pids.length === 0) return [];
  deps.log(`stopping signer pid ${pids.join(', ')} (SIGTERM, SIGKILL after ${target.graceMs / 1000}s)`);
  for (const pid of pids) signal(pid, 'SIGTERM', deps.log);
  const alive = async () => (await Promise.all(pids.map(async (p) => ((await isAlive(p, deps)) ? p : null)))).filter((p): p is number => p !== null);
  const until = async (ms: number): Promise<number[]> => {
    const end = deps.now() + ms;
    let left = await alive();
    while (left.length > 0 && deps.now() < end) {
      await deps.sleep(Math.min(50, end - deps.now()));
      left = await alive();
    }
    return left;
  };
  let left = await until(target.graceMs);
  if (left.length > 0) {
    deps.log(`signer pid ${left.join(', ')} still running after ${target.graceMs / 1000}s: SIGKILL`);
    for (const pid of left) signal(pid, 'SIGKILL', deps.log);
    left = await until(2000);
    if (left.length > 0) deps.log(`signer pid ${left.join(', ')} did not exit after SIGKILL`);
  }
  return pids;
}
