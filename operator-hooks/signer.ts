// Finding and stopping the signer (the validator client) from the keeper.
// The pod shares one process namespace and one uid, so the keeper sees the
// validator container's processes in /proc and may signal them. A stopped
// signer is one that has exited; a zombie counts as exited, since it can no
// longer sign and only waits for its parent to reap it.
//
// A stop is proven, not assumed: the keeper saw the signer exit, or the
// pidfile names a signer that is gone from a process namespace the keeper
// can see. Finding nothing is no proof: a keeper that shares no process
// namespace with the signer finds nothing either.

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

/** The parent pid, from /proc/<pid>/stat (the field after the state letter). */
async function parentOf(pid: number, root: string): Promise<number | null> {
  const stat = await readFile(`${root}/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) && ppid >= 0 ? ppid : null;
}

/**
 * Whether this process shares its process namespace with the other
 * containers of the pod (shareProcessNamespace: true). There, pid 1 is the
 * pod's pause process and each container's first process has parent 0 (its
 * parent lives outside the namespace); in a namespace of its own, this
 * container's first process is pid 1. So: walk up from ourselves to the
 * process whose parent is 0, and see whether it is pid 1.
 */
export async function sharesProcessNamespace(opts: ProcOpts = {}): Promise<boolean> {
  const root = opts.procRoot ?? '/proc';
  let pid = opts.selfPid ?? process.pid;
  for (let hops = 0; hops < 64; hops++) {
    const parent = await parentOf(pid, root);
    if (parent === null) return false;
    if (parent === 0) return pid !== 1;
    pid = parent;
  }
  return false;
}

export interface SignerStop {
  /** The pids it signalled. */
  readonly pids: readonly number[];
  readonly evidence: 'proven' | 'unproven';
  /** Why, for the log: what was seen, or what could not be. */
  readonly why: string;
}

/** Nothing to stop: proven only when the pidfile names a signer that has left a namespace we can see. */
async function evidenceOfAbsence(target: SignerTarget, opts: ProcOpts): Promise<SignerStop> {
  const shared = await sharesProcessNamespace(opts);
  if (!shared) return { pids: [], evidence: 'unproven', why: 'no signer process found, but this container shares no process namespace with the signer (shareProcessNamespace)' };
  if (target.pidfile === null) return { pids: [], evidence: 'unproven', why: 'no signer process found by name, and no KEYHOLD_SIGNER_PIDFILE to say which it was' };
  const pid = await readPidfile(target.pidfile);
  if (pid === null) return { pids: [], evidence: 'unproven', why: `no signer process found, and ${target.pidfile} names none` };
  if (await isAlive(pid, opts)) return { pids: [], evidence: 'unproven', why: `signer pid ${pid} from the pidfile is still running` };
  return { pids: [], evidence: 'proven', why: `signer pid ${pid} from the pidfile is gone` };
}

/**
 * SIGTERM every signer process, SIGKILL what is left after the grace, and
 * return once none is alive (or, after SIGKILL, a short wait has passed),
 * with the pids it signalled and whether the stop is proven.
 */
export async function stopSigner(target: SignerTarget, deps: { sleep: Sleep; log: Log; now: () => number } & ProcOpts): Promise<SignerStop> {
  const pids = await findSigners(target, deps);
  if (pids.length === 0) return evidenceOfAbsence(target, deps);
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
  if (left.length > 0) return { pids, evidence: 'unproven', why: `signer pid ${left.join(', ')} did not exit` };
  return { pids, evidence: 'proven', why: `saw signer pid ${pids.join(', ')} exit` };
}
