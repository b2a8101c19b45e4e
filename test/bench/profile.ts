// Where the broker child spends its time: the top self-time functions of a
// V8 .cpuprofile (node --cpu-prof), and the same grouped by where the code
// lives (our src/, a dependency, Node itself), printed on stderr. Code of a
// bundle (dist/, minified, in chunks) is named through the source map beside
// each chunk, so a function bundle's profile reads as packages and our files
// rather than chunk-XXXX.mjs. A short process (a cold start) also gets a
// timeline: what ran in each slice of its life. The profile file is kept so
// it can be opened in a viewer.

import { existsSync, readFileSync } from 'node:fs';
import { copyFile, readFile, readdir } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { progress } from './report';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber?: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime?: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A frame's place in the original sources: the url a bundle's source map names, or the frame's own. */
export type FrameSource = (frame: CallFrame) => string;

/** Maps frames of files with a `.map` beside them (esbuild's sourcemap: true) to their original source; other frames keep their url. */
export function sourceMapped(): FrameSource {
  const maps = new Map<string, SourceMap | null>();
  const mapFor = (url: string): SourceMap | null => {
    if (!maps.has(url)) {
      let map: SourceMap | null = null;
      try {
        const file = fileURLToPath(url);
        if (existsSync(`${file}.map`)) {
          const payload = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] };
          // Sources are relative to the map: make them absolute, so areaOf sees node_modules/ and src/.
          payload.sources = payload.sources.map((s) => resolve(dirname(file), s));
          map = new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0]);
        }
      } catch {
        map = null;
      }
      maps.set(url, map);
    }
    return maps.get(url) ?? null;
  };
  return (frame) => {
    if (!frame.url.startsWith('file:') || !frame.url.endsWith('.mjs')) return frame.url;
    const entry = mapFor(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber ?? 0) as { originalSource?: string } | undefined;
    return entry?.originalSource || frame.url;
  };
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

export function selfTimes(p: CpuProfile, source: FrameSource = (f) => f.url): { functions: SelfTime[]; areas: SelfTime[]; totalMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, lineNumber } = node.callFrame;
    const url = source(node.callFrame);
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

/** Self time by area in consecutive slices of `sliceMs` from the first sample: the order things happened in. */
export function timeline(p: CpuProfile, sliceMs: number, source: FrameSource = (f) => f.url, perSlice = 3): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const slices: Map<string, number>[] = [];
  let t = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const k = Math.floor(t / 1000 / sliceMs);
    const m = (slices[k] ??= new Map());
    const where = areaOf(source(node.callFrame), node.callFrame.functionName);
    m.set(where, (m.get(where) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return [...slices.entries()].map(([k, m]) => {
    const parts = [...(m ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]).slice(0, perSlice);
    return `  ${String(k * sliceMs).padStart(5)} ms  ${parts.map(([a, us]) => `${a} ${(us / 1000).toFixed(0)}`).join(', ')}`;
  });
}

/** Summarize every profile in `dir` on stderr and keep a copy under the temp directory; `sliceMs` adds a timeline. */
export async function summarizeProfile(dir: string, top = 25, sliceMs?: number): Promise<void> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    progress(`no .cpuprofile written in ${dir}`);
    return;
  }
  for (const f of files) {
    const kept = join(tmpdir(), `keyhold-bench-${basename(f)}`);
    await copyFile(join(dir, f), kept);
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile;
    const source = sourceMapped();
    const s = selfTimes(p, source);
    const line = (x: SelfTime) => `  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(7)} ms  ${x.name}`;
    process.stderr.write(
      [
        `profile ${kept} (${(s.totalMs / 1000).toFixed(1)} s sampled)`,
        ' self time by area:',
        ...s.areas.slice(0, 15).map(line),
        ` top ${top} functions by self time:`,
        ...s.functions.slice(0, top).map(line),
        ...(sliceMs ? [` timeline (self time by area per ${sliceMs} ms, ms):`, ...timeline(p, sliceMs, source)] : []),
        '',
      ].join('\n'),
    );
  }
}

// `tsx test/bench/profile.ts file.cpuprofile [sliceMs]`: summarize a profile kept from an earlier run
// (a bundle's frames are mapped while its dist/ files are still there).
if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx test/bench/profile.ts <file.cpuprofile> [sliceMs]');
    process.exit(2);
  }
  process.stdout.on('error', () => process.exit(0));
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const source = sourceMapped();
  const s = selfTimes(p, source);
  for (const x of [...s.areas.slice(0, 25), ...s.functions.slice(0, 40)]) console.log(`${(x.share * 100).toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(7)} ms  ${x.name}`);
  if (process.argv[3]) for (const l of timeline(p, Number(process.argv[3]), source)) console.log(l);
}
