import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realSleep } from './clock';
import { findByName, findSigners, isAlive, sharesProcessNamespace, stopSigner } from './signer';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A process with a unique argv[0], so a name scan can only ever match it. */
async function standIn(opts: { ignoreTerm: boolean }): Promise<{ child: ChildProcess; name: string }> {
  const name = `keyhold-test-signer-${randomBytes(4).toString('hex')}`;
  const script = `${opts.ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} console.log('ready'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { argv0: name, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { child, name };
}

const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));
const deps = { sleep: realSleep, log: () => undefined, now: Date.now };

describe('stopping the signer', () => {
  it('finds it by name in /proc and stops it with SIGTERM', async () => {
    const { child, name } = await standIn({ ignoreTerm: false });
    expect(await findByName(name)).toEqual([child.pid]);
    const stopped = await stopSigner({ pidfile: null, process: name, graceMs: 2000 }, deps);
    expect(stopped).toMatchObject({ pids: [child.pid], evidence: 'proven' });
    await exited(child);
    expect(child.signalCode).toBe('SIGTERM');
  });

  it('escalates to SIGKILL after the grace when SIGTERM is ignored, found by pidfile', async () => {
    const { child } = await standIn({ ignoreTerm: true });
    const dir = await mkdtemp(join(tmpdir(), 'keyhold-pid-'));
    const pidfile = join(dir, 'signer.pid');
    await writeFile(pidfile, `${child.pid}\n`);
    const t0 = Date.now();
    expect(await stopSigner({ pidfile, process: null, graceMs: 300 }, deps)).toMatchObject({ pids: [child.pid], evidence: 'proven' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(await findSigners({ pidfile, process: null, graceMs: 300 })).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('ignores pid 1, its own pid, garbage pidfiles and zombies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyhold-proc-'));
    const pidfile = join(dir, 'pid');
    for (const content of ['1', String(process.pid), 'lighthouse', '']) {
      await writeFile(pidfile, content);
      expect(await findSigners({ pidfile, process: null, graceMs: 1 })).toEqual([]);
    }
    // A fake /proc: a live lighthouse, a zombie one, and a shell whose argv[0] is a path to lighthouse.
    const proc = join(dir, 'proc');
    const entry = async (pid: number, comm: string, argv0: string, state: string) => {
      await mkdir(join(proc, String(pid)), { recursive: true });
      await writeFile(join(proc, String(pid), 'comm'), `${comm}\n`);
      await writeFile(join(proc, String(pid), 'cmdline'), `${argv0}\0vc\0`);
      await writeFile(join(proc, String(pid), 'stat'), `${pid} (${comm}) ${state} 1 1 1`);
    };
    await entry(40, 'lighthouse', 'lighthouse', 'S');
    await entry(41, 'lighthouse', 'lighthouse', 'Z');
    await entry(42, 'sh', '/usr/local/bin/lighthouse', 'R');
    await entry(43, 'sh', '/bin/sh', 'S');
    await mkdir(join(proc, 'self'));
    expect((await findByName('lighthouse', { procRoot: proc, selfPid: 99 })).sort()).toEqual([40, 42]);
    expect(await isAlive(41, { procRoot: proc })).toBe(false);
    expect(await isAlive(44, { procRoot: proc })).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  describe('evidence that it stopped', () => {
    let dir: string;
    let proc: string;
    /** A fake /proc entry: comm, state and parent pid, as /proc/<pid>/stat has them. */
    const entry = async (pid: number, comm: string, ppid: number, state = 'S') => {
      await mkdir(join(proc, String(pid)), { recursive: true });
      await writeFile(join(proc, String(pid), 'comm'), `${comm}\n`);
      await writeFile(join(proc, String(pid), 'cmdline'), `${comm}\0`);
      await writeFile(join(proc, String(pid), 'stat'), `${pid} (${comm}) ${state} ${ppid} 1 1`);
    };
    /** shareProcessNamespace: pause is pid 1; the keeper container's first process (20) has parent 0. */
    const sharedPod = async () => {
      await entry(1, 'pause', 0);
      await entry(20, 'node', 0);
      await entry(21, 'node', 20);
    };
    /** A namespace of its own: the keeper container's first process is pid 1. */
    const ownNamespace = async () => {
      await entry(1, 'node', 0);
      await entry(21, 'node', 1);
    };
    const quiet = { ...deps, selfPid: 21 };

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'keyhold-evidence-'));
      proc = join(dir, 'proc');
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('tells a shared process namespace from a namespace of its own', async () => {
      await sharedPod();
      expect(await sharesProcessNamespace({ procRoot: proc, selfPid: 21 })).toBe(true);
      await rm(proc, { recursive: true });
      await ownNamespace();
      expect(await sharesProcessNamespace({ procRoot: proc, selfPid: 21 })).toBe(false);
      expect(await sharesProcessNamespace({ procRoot: join(dir, 'no-proc'), selfPid: 21 })).toBe(false);
    });

    it('does not take "no signer process found" as proof without a shared process namespace', async () => {
      await ownNamespace();
      const pidfile = join(dir, 'signer.pid');
      await writeFile(pidfile, '40\n');
      const r = await stopSigner({ pidfile, process: 'lighthouse', graceMs: 100 }, { ...quiet, procRoot: proc });
      expect(r).toMatchObject({ pids: [], evidence: 'unproven', why: expect.stringContaining('shareProcessNamespace') });
    });

    it('does not take it as proof in a shared namespace without a pidfile to say which process was the signer', async () => {
      await sharedPod();
      const r = await stopSigner({ pidfile: null, process: 'lighthouse', graceMs: 100 }, { ...quiet, procRoot: proc });
      expect(r).toMatchObject({ pids: [], evidence: 'unproven', why: expect.stringContaining('KEYHOLD_SIGNER_PIDFILE') });
      const pidfile = join(dir, 'missing.pid');
      expect(await stopSigner({ pidfile, process: 'lighthouse', graceMs: 100 }, { ...quiet, procRoot: proc })).toMatchObject({ evidence: 'unproven' });
    });

    it('takes a pidfile signer that is gone, or a zombie, from a shared namespace as proof', async () => {
      await sharedPod();
      const pidfile = join(dir, 'signer.pid');
      await writeFile(pidfile, '40\n');
      expect(await stopSigner({ pidfile, process: null, graceMs: 100 }, { ...quiet, procRoot: proc })).toMatchObject({ pids: [], evidence: 'proven', why: expect.stringContaining('pid 40') });
      await entry(40, 'lighthouse', 0, 'Z');
      expect(await stopSigner({ pidfile, process: null, graceMs: 100 }, { ...quiet, procRoot: proc })).toMatchObject({ evidence: 'proven' });
    });
  });
});
