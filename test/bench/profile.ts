// Where the broker child spends its time: the top self-time functions of a
// V8 .cpuprofile (node --cpu-prof), and the same grouped by where the code
// lives (our src/, a dependency, Node itself), printed on stderr. The profile
// file is kept so it can be opened in a viewer.

import { copyFile, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { progress } from './report';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

/** Where a function lives: a package, a file of ours, Node's internals, or V8's pseudo-frames. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return 'node:internal';
  const ours = /\/(src|test)\/(.*)$/.exec(url);
  if (ours?.[2]) return `${ours[1]}/${ours[2]}`;
  return url;
}

export function selfTimes(p: CpuProfile): { functions: SelfTime[]; areas: SelfTime[]; totalMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = areaOf(url, functionName);
    const key = `${functionName || '(anonymous)'} ${url ? `${url.startsWith('node:') ? url : where}:${lineNumber + 1}` : ''}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    area.set(where, (area.get(where) ?? 0) + us);
    total += us;
  });
  const list = (m: Map<string, number>) =>
    [...m.entries()].map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 })).sort((a, b) => b.ms - a.ms);
  return { functions: list(fn), areas: list(area), totalMs: total / 1000 };
}

/** Summarize every profile in `dir` on stderr and keep a copy under the temp directory. */
export async function summarizeProfile(dir: string, top = 25): Promise<void> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    progress(`no .cpuprofile written in ${dir}`);
    return;
  }
  for (const f of files) {
    const kept = join(tmpdir(), `keyhold-bench-${basename(f)}`);
    await copyFile(join(dir, f), kept);
    const s = selfTimes(JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile);
    const line = (x: SelfTime) => `  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(7)} ms  ${x.name}`;
    process.stderr.write(
      [
        `profile ${kept} (${(s.totalMs / 1000).toFixed(1)} s sampled)`,
        ' self time by area:',
        ...s.areas.slice(0, 15).map(line),
        ` top ${top} functions by self time:`,
        ...s.functions.slice(0, top).map(line),
        '',
      ].join('\n'),
    );
  }
}

// `tsx test/bench/profile.ts file.cpuprofile`: summarize a profile kept from an earlier run.
if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx test/bench/profile.ts <file.cpuprofile>');
    process.exit(2);
  }
  process.stdout.on('error', () => process.exit(0));
  const s = selfTimes(JSON.parse(await readFile(file, 'utf8')) as CpuProfile);
  for (const x of [...s.areas.slice(0, 15), ...s.functions.slice(0, 40)]) console.log(`${(x.share * 100).toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(7)} ms  ${x.name}`);
}
