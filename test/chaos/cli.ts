// `npm run chaos -- --runs N --seed S [--json] [--store vault|dynamodb|firestore] [--fault-seconds F]`:
// N runs with seeds S, S+1, ...; the stores take turns unless one is named.
// A table on stdout (or one JSON object with --json), progress on stderr,
// exit 1 on any violation. `--runs 1 --seed <failing seed> --store <its store>` replays a run.
import { parseArgs } from 'node:util';
import { chaosRun, type RunResult } from './run';
import { storeKinds, type StoreKind } from './stores';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    store: { type: 'string' },
    json: { type: 'boolean', default: false },
    'fault-seconds': { type: 'string', default: '20' },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
const faultSeconds = Number(values['fault-seconds']);
const usage = (m: string) => {
  console.error(`chaos: ${m}\nusage: npm run chaos -- --runs N --seed S [--json] [--store ${storeKinds.join('|')}] [--fault-seconds F]`);
  process.exit(2);
};
if (!Number.isInteger(runs) || runs < 1) usage('--runs must be a positive integer');
if (!Number.isInteger(seed) || seed < 0) usage('--seed must be a non-negative integer');
if (!Number.isFinite(faultSeconds) || faultSeconds < 1) usage('--fault-seconds must be at least 1');
if (values.store !== undefined && !storeKinds.includes(values.store as StoreKind)) usage(`--store must be one of ${storeKinds.join(', ')}`);

const results: RunResult[] = [];
const errors: { seed: number; store: StoreKind; error: string }[] = [];
for (let i = 0; i < runs; i++) {
  const s = seed + i;
  const store = (values.store as StoreKind | undefined) ?? storeKinds[i % storeKinds.length]!;
  process.stderr.write(`chaos: run ${i + 1}/${runs}, seed ${s}, ${store}\n`);
  try {
    const r = await chaosRun({ seed: s, store, faultMs: faultSeconds * 1000, progress: (l) => process.stderr.write(`  ${l}\n`) });
    results.push(r);
    process.stderr.write(`  seed ${s}: ${r.violations.length} violations, ${r.handoffs} handoffs, ${Object.values(r.faults).reduce((a, b) => a + b, 0)} faults, ${Math.round(r.durationMs / 1000)} s\n`);
    for (const v of r.violations) process.stderr.write(`  VIOLATION ${v.kind}: ${v.detail}\n`);
  } catch (e) {
    errors.push({ seed: s, store, error: (e as Error).message.slice(0, 500) });
    process.stderr.write(`  seed ${s}: run failed to complete: ${(e as Error).message.slice(0, 500)}\n`);
  }
}

const faults: Record<string, number> = {};
for (const r of results) for (const [k, n] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + n;
const summary = {
  runs: results.length,
  seeds: results.map((r) => ({ seed: r.seed, store: r.store })),
  faults,
  faults_total: Object.values(faults).reduce((a, b) => a + b, 0),
  handoffs: results.reduce((s, r) => s + r.handoffs, 0),
  longest_unavailable_ms: results.reduce((m, r) => Math.max(m, r.longestUnavailableMs), 0),
  violations: results.reduce((s, r) => s + r.violations.length, 0),
  failing_seeds: results.filter((r) => r.violations.length > 0).map((r) => ({ seed: r.seed, store: r.store, kinds: [...new Set(r.violations.map((v) => v.kind))] })),
  errors,
};

if (values.json) console.log(JSON.stringify(summary));
else {
  const rows = results.map((r) => [String(r.seed), r.store, String(Object.values(r.faults).reduce((a, b) => a + b, 0)), String(r.handoffs), String(r.longestUnavailableMs), r.settledMs === null ? 'no' : String(r.settledMs), String(r.violations.length), String(Math.round(r.durationMs / 1000))]);
  const head = ['seed', 'store', 'faults', 'handoffs', 'longest_unavailable_ms', 'settled_ms', 'violations', 'seconds'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  console.log(`\nfaults by kind: ${Object.entries(faults).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`runs ${summary.runs}, handoffs ${summary.handoffs}, longest unavailable ${summary.longest_unavailable_ms} ms, violations ${summary.violations}` + (summary.failing_seeds.length ? `, failing seeds ${summary.failing_seeds.map((f) => `${f.seed} (${f.store})`).join(', ')}` : ''));
  if (errors.length) console.log(`runs that did not complete: ${errors.map((e) => `${e.seed} (${e.store})`).join(', ')}`);
}
process.exit(summary.violations > 0 || errors.length > 0 ? 1 : 0);
