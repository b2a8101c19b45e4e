// Runs the Promela model (keyhold.pml) through spin: generate the verifier,
// compile it, run it, and read its summary. Used by the model's vitest test
// and by `npm run prove`.

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const modelFile = new URL('./keyhold.pml', import.meta.url).pathname;

/** One check of the model: its sizes (-D macros), and whether it is the liveness search. */
export interface ModelCheck {
  readonly name: string;
  readonly defines: Readonly<Record<string, number | true>>;
  readonly liveness?: boolean;
  /** A broken variant: spin must refute it. */
  readonly expectError?: boolean;
}

export interface SpinResult {
  readonly name: string;
  readonly errors: number;
  readonly states: number;
  /** What spin reported first: the violated assertion or the acceptance cycle. */
  readonly violation: string | null;
  readonly seconds: number;
}

export class SpinMissingError extends Error {
  constructor(tool: string) {
    super(`${tool} is not installed: the model needs spin and a C compiler (apt-get install -y spin gcc; .ci/run installs them)`);
  }
}

async function has(tool: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

export async function requireTools(): Promise<void> {
  for (const tool of ['spin', 'gcc']) if (!(await has(tool))) throw new SpinMissingError(tool);
}

/** Reads pan's summary; exported for its own test. */
export function parsePan(out: string): Omit<SpinResult, 'name' | 'seconds'> {
  const errors = /errors:\s*(\d+)/.exec(out);
  const states = /([\d.e+]+)\s+states, stored/.exec(out);
  if (!errors || !states) throw new Error(`spin gave no summary:\n${out.slice(-2000)}`);
  const violation = /pan:\d+:\s*(.+?)\s*\(at depth/.exec(out)?.[1] ?? (/acceptance cycle/.test(out) ? 'acceptance cycle' : null);
  return { errors: Number(errors[1]), states: Math.round(Number(states[1])), violation };
}

/** Generates, compiles and runs one check; pan stops at the first error. */
export async function check(c: ModelCheck, timeoutMs = 600_000): Promise<SpinResult> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-spin-'));
  const started = performance.now();
  try {
    copyFileSync(modelFile, join(dir, 'keyhold.pml'));
    const defines = Object.entries(c.defines).map(([k, v]) => (v === true ? `-D${k}` : `-D${k}=${v}`));
    await run('spin', [...defines, '-a', 'keyhold.pml'], { cwd: dir });
    // COLLAPSE: exhaustive, in less memory. Without the liveness claim the
    // search is for assertion violations (safety) only.
    const cflags = c.liveness ? ['-DCOLLAPSE', '-DNFAIR=3'] : ['-DCOLLAPSE', '-DSAFETY', '-DNOCLAIM'];
    // A broken variant's counterexample comes early: compiling fast beats running fast.
    await run('gcc', [c.expectError ? '-O0' : '-O1', '-w', ...cflags, '-o', 'pan', 'pan.c'], { cwd: dir });
    const args = ['-m2000000', '-n', ...(c.liveness ? ['-a', '-f'] : [])];
    // pan exits 0 also when it finds an error; the summary says which.
    const { stdout } = await run('./pan', args, { cwd: dir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    const parsed = parsePan(stdout);
    if (parsed.errors > 0 && !readdirSync(dir).some((f) => f.endsWith('.trail'))) throw new Error(`${c.name}: spin reported an error without a counterexample trail`);
    return { name: c.name, ...parsed, seconds: (performance.now() - started) / 1000 };
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

/** The protocol as designed: no assertion may fail and no acceptance cycle exist. */
export const fastChecks: readonly ModelCheck[] = [{ name: 'safety', defines: { TCALM: 3, LAG: 0, MAXPROMO: 0 } }];

export const proveChecks: readonly ModelCheck[] = [
  { name: 'safety, takeovers', defines: { TCALM: 4, LAG: 0, MAXPROMO: 0 } },
  { name: 'safety, promotions', defines: { TCALM: 3, LAG: 0, MAXPROMO: 1 } },
  { name: 'liveness', defines: { TCALM: 3, LAG: 0, MAXPROMO: 0 }, liveness: true },
];

/** Broken variants: spin must find a counterexample to each. */
export const variants: readonly ModelCheck[] = [
  // A reply one tick late must find its holder still holding: TTL 3.
  { name: 'holder counts from receipt', expectError: true, defines: { BROKEN_RECEIPT: true, TTL: 3, TCALM: 5, LAG: 0, MAXPROMO: 0 } },
  { name: 'deadline left out of notBefore', expectError: true, defines: { BROKEN_NO_DEADLINE: true, TCALM: 4, LAG: 0, MAXPROMO: 0 } },
  { name: 'ack accepted from two epochs back', expectError: true, defines: { BROKEN_TWO_BACK: true, TCALM: 4, LAG: 0, MAXPROMO: 1 } },
  { name: 'ack interchange dropped', expectError: true, defines: { BROKEN_ACK_HISTORY: true, TCALM: 4, LAG: 0, MAXPROMO: 0 } },
  { name: 'commit without compare-and-swap', expectError: true, defines: { BROKEN_NO_CAS: true, TCALM: 4, LAG: 0, MAXPROMO: 1 } },
];
