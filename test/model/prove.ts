// npm run prove [-- --json]: the model at larger bounds, its broken variants,
// and the fast-check safety property with 10,000 schedules. Progress goes to
// stderr; stdout is one table, or one JSON object with --json.
// Exit codes: 0 proven, 1 a check failed (a counterexample, a variant not
// refuted, a property violation), 2 usage, 3 a tool is missing.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, proveChecks, requireTools, SpinMissingError, variants, type SpinResult } from './spin';

const PROPERTY_RUNS = 10_000;
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--json');
if (unknown.length > 0) {
  console.error(`usage: npm run -s prove [-- --json] (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}
const json = args.includes('--json');
const progress = (line: string) => process.stderr.write(`prove: ${line}\n`);

interface PropertyResult {
  schedules: number;
  violations: number;
  seconds: number;
}

/** The fast-check safety property at PROPERTY_RUNS schedules, through vitest's JSON reporter. */
async function property(): Promise<PropertyResult> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-prove-'));
  const report = join(dir, 'report.json');
  const started = performance.now();
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('npx', ['vitest', 'run', '--project', 'unit', 'test/safety.property.test.ts', '--reporter=json', `--outputFile=${report}`, '--testTimeout=0'], {
        env: { ...process.env, KEYHOLD_PROPERTY_RUNS: String(PROPERTY_RUNS) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c ?? 1));
    });
    const r = JSON.parse(readFileSync(report, 'utf8')) as { testResults: { assertionResults: { title: string; status: string }[] }[] };
    const tests = r.testResults.flatMap((f) => f.assertionResults);
    const safety = tests.find((t) => /never admits two/.test(t.title));
    if (!safety) throw new Error('the safety property test was not found');
    const failed = tests.filter((t) => t.status !== 'passed').length;
    // Until the property test reads KEYHOLD_PROPERTY_RUNS it runs its own fixed count: report that one.
    const source = readFileSync(new URL('../safety.property.test.ts', import.meta.url), 'utf8');
    const runs = source.includes('KEYHOLD_PROPERTY_RUNS') ? PROPERTY_RUNS : Number(/numRuns:\s*(\d+)/.exec(source)?.[1] ?? 0);
    if (runs !== PROPERTY_RUNS) progress(`  the property test does not read KEYHOLD_PROPERTY_RUNS: it ran ${runs} schedules`);
    return { schedules: safety.status === 'passed' ? runs : 0, violations: code === 0 ? 0 : Math.max(1, failed), seconds: (performance.now() - started) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  await requireTools();
  const model: SpinResult[] = [];
  for (const c of proveChecks) {
    progress(`spin: ${c.name} ${JSON.stringify(c.defines)}`);
    const r = await check(c, 3_600_000);
    progress(`  ${r.states} states, ${r.errors} errors, ${r.seconds.toFixed(0)} s`);
    model.push(r);
  }
  const refuted: string[] = [];
  const notRefuted: string[] = [];
  for (const v of variants) {
    progress(`spin: broken variant "${v.name}"`);
    const r = await check(v, 3_600_000);
    progress(`  ${r.errors > 0 ? `refuted: ${r.violation}` : 'NOT refuted'}`);
    (r.errors > 0 ? refuted : notRefuted).push(v.name);
  }
  progress(`fast-check: ${PROPERTY_RUNS} schedules`);
  const prop = await property();
  progress(`  ${prop.violations} violations, ${prop.seconds.toFixed(0)} s`);

  const summary = {
    spin_states: model.reduce((n, r) => n + r.states, 0),
    spin_errors: model.reduce((n, r) => n + r.errors, 0),
    spin_checks: model.map((r) => ({ name: r.name, states: r.states, errors: r.errors, seconds: Math.round(r.seconds) })),
    refuted_variants: refuted,
    unrefuted_variants: notRefuted,
    schedules: prop.schedules,
    violations: prop.violations,
  };
  if (json) {
    console.log(JSON.stringify(summary));
  } else {
    const rows: [string, string][] = [
      ...model.map((r): [string, string] => [`spin ${r.name}`, `${r.states} states, ${r.errors} errors, ${Math.round(r.seconds)} s`]),
      ...variants.map((v): [string, string] => [`variant ${v.name}`, refuted.includes(v.name) ? 'refuted' : 'NOT refuted']),
      ['fast-check schedules', String(prop.schedules)],
      ['fast-check violations', String(prop.violations)],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  }
  const ok = summary.spin_errors === 0 && notRefuted.length === 0 && prop.violations === 0 && prop.schedules === PROPERTY_RUNS;
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`prove: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof SpinMissingError ? 3 : 1);
  },
);
