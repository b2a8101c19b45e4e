// Issue 16: every alert the overlays ship is unit-tested with
// `promtool test rules` (Debian's prometheus package): one case that fires it
// and one that does not. The rules are taken from the rendered
// PrometheusRules, so the tests judge what `kubectl apply -k` would install.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hasKubectl, render, skipReason as kubectlSkip } from './render';

type Rule = { alert?: string; record?: string; expr: string; annotations?: Record<string, string> };
type Group = { name: string; rules: Rule[] };
type AlertTest = { alertname: string; exp_alerts: unknown[] };
type TestFile = { tests: { name: string; alert_rule_test?: AlertTest[] }[] };

const hasPromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasPromtool && process.env.CI) throw new Error('promtool is required in CI for the alert rule tests; .ci/run installs the Debian package prometheus');
const skipReason = kubectlSkip || (hasPromtool ? '' : ' (SKIPPED: promtool not installed; apt-get install prometheus)');

const here = path.dirname(new URL(import.meta.url).pathname);
/** Each promtool test file, and the overlay whose rules it tests. */
const suites: readonly [string, string][] = [
  ['site.tests.yaml', 'overlays/mainnet-active'],
  ['standby.tests.yaml', 'overlays/mainnet-standby'],
  ['broker.tests.yaml', 'overlays/broker'],
];

const groups = (overlay: string): Group[] =>
  render(overlay)
    .filter((o) => o.kind === 'PrometheusRule')
    .flatMap((o) => (o.spec as { groups: Group[] }).groups);

const dir = mkdtempSync(path.join(tmpdir(), 'keyhold-promtool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.runIf(hasKubectl && hasPromtool)(`alert rules under promtool${skipReason}`, () => {
  it.each(suites)('%s passes against the rules of %s', (file, overlay) => {
    const base = file.replace(/\.tests\.yaml$/, '');
    // Templates are checked by `promtool check rules` on the full rules; the
    // unit tests compare labels, so the annotations are left out there.
    const full = path.join(dir, `${base}.full.rules.yaml`);
    writeFileSync(full, stringify({ groups: groups(overlay) }));
    const checked = promtool(['check', 'rules', full]);
    expect(checked.status, checked.out).toBe(0);
    const bare = groups(overlay).map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) }));
    writeFileSync(path.join(dir, `${base}.rules.yaml`), stringify({ groups: bare }));
    const tests = parse(readFileSync(path.join(here, 'alerts', file), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(dir, file), stringify({ rule_files: [`${base}.rules.yaml`], ...tests }));
    const run = promtool(['test', 'rules', file]);
    expect(run.status, run.out).toBe(0);
  });

  it('every shipped alert has a case that fires it and one that does not', () => {
    const alerts = new Set(suites.flatMap(([, overlay]) => groups(overlay).flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])))));
    const cases = suites.flatMap(([file]) => (parse(readFileSync(path.join(here, 'alerts', file), 'utf8')) as TestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    expect(alerts.size).toBeGreaterThanOrEqual(18);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${alert}: a case that fires`).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${alert}: a case that does not`).toBe(true);
    }
  });

  it('a broken expectation fails promtool (the harness can fail)', () => {
    writeFileSync(path.join(dir, 'broken.rules.yaml'), stringify({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0' }] }] }));
    writeFileSync(
      path.join(dir, 'broken.tests.yaml'),
      stringify({ rule_files: ['broken.rules.yaml'], tests: [{ interval: '1m', input_series: [{ series: 'up{job="x"}', values: '1x5' }], alert_rule_test: [{ eval_time: '3m', alertname: 'A', exp_alerts: [{ exp_labels: { job: 'x' } }] }] }] }),
    );
    expect(promtool(['test', 'rules', 'broken.tests.yaml']).status).not.toBe(0);
  });
});
