import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { realSleep } from './clock';
import { findByName, findSigners, isAlive, stopSigner } from './signer';

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
    expect(stopped).toEqual([child.pid]);
    await exited(child);
    expect(child.signalCode).toBe('SIGTERM');
  });

  it('escalates to SIGKILL after the grace when SIGTERM is ignored, found by pidfile', async () => {
    const { child } = await standIn({ ignoreTerm: true });
    const dir = await mkdtemp(join(tmpdir(), 'keyhold-pid-'));
    const pidfile = join(dir, 'signer.pid');
    await writeFile(pidfile, `${child.pid}\n`);
    const t0 = Date.now();
    await stopSigner({ pidfile, process: null, graceMs: 300 }, deps);
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
});
