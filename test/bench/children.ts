// Child processes with a bounded life. Each child leads its own process
// group, so killing the group takes its children too; every child is killed
// when the bench exits or after its own deadline, and the child scripts under
// test/bench also exit on their own when their parent disappears.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/ports';
export { freePort };

export const benchDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(benchDir, '..', '..');

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of live) killGroup(c, 'SIGKILL');
      process.exit(130);
    });
  }
}

export interface Bounded {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last lines the child wrote to stderr, for error messages. */
  stderrTail(): string;
  /** SIGTERM the group, SIGKILL it after `graceMs`; resolves when the child has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Spawn `command` in its own process group, killed after `lifeMs` whatever happens. */
export function spawnBounded(command: string, args: readonly string[], opts: SpawnOptions & { lifeMs: number }): Bounded {
  hookExit();
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], ...opts, detached: true });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  live.add(child);
  const tail: string[] = [];
  // Drain stderr (the broker logs there) so a full pipe never stalls the child.
  child.stderr?.on('data', (b: Buffer) => {
    tail.push(b.toString());
    if (tail.length > 40) tail.shift();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => live.delete(child));
  const deadline = setTimeout(() => killGroup(child, 'SIGKILL'), opts.lifeMs);
  deadline.unref();
  return {
    child,
    pid: child.pid,
    stderrTail: () => tail.join('').split('\n').slice(-15).join('\n'),
    exited,
    async stop(graceMs = 5000) {
      clearTimeout(deadline);
      killGroup(child, 'SIGTERM');
      const hard = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(hard);
      // Anything the child started in its group goes too.
      killGroup(child, 'SIGKILL');
    },
  };
}

/** The first stdout line of a child that is a JSON object, or an error if it exits or times out first. */
export function firstJsonLine<T>(b: Bounded, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`child gave no answer within ${timeoutMs} ms\n${b.stderrTail()}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        clearTimeout(timer);
        b.child.stdout?.off('data', onData);
        // Keep draining stdout afterwards.
        b.child.stdout?.resume();
        resolve(JSON.parse(line) as T);
        return;
      }
    };
    b.child.stdout?.on('data', onData);
    void b.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before answering\n${b.stderrTail()}`));
    });
  });
}

/** `node --import tsx <script>`: TypeScript children without the npx/tsx CLI start-up in the way. */
export function nodeTs(script: string, opts: { env?: NodeJS.ProcessEnv; lifeMs: number; nodeArgs?: readonly string[] }): Bounded {
  return spawnBounded(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', join(benchDir, script)], {
    env: { ...process.env, ...opts.env, BENCH_PARENT_PID: String(process.pid) },
    lifeMs: opts.lifeMs,
  });
}

/** Resident set size of a process in MB, from /proc (Linux); null elsewhere. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time a process has used, all its threads, user plus system, in ms (Linux); null elsewhere. With `thread`, that one thread's (the main thread's id is the pid). */
export function cpuMs(pid: number, thread?: number): number | null {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    // USER_HZ is 100 on every Linux Node supports.
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

/** Sample a process's RSS every `everyMs`; `stop()` returns the maximum seen. */
export function rssSampler(pid: number, everyMs = 100): { stop(): number | null } {
  let max: number | null = rssMb(pid);
  const t = setInterval(() => {
    const v = rssMb(pid);
    if (v !== null && (max === null || v > max)) max = v;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return max;
    },
  };
}

