// What a run produces: named figures, their targets, and the two ways to
// print them (a table for people, one JSON object for run-to-run diffs).
// Progress goes to stderr only, so `--json` leaves stdout parseable.

export interface StoreCalls {
  readonly key_reads: number;
  readonly state_writes: number;
}

/** A number, a set of named numbers (per target, per store), or null when it could not be measured. */
export type FigureValue = number | StoreCalls | Readonly<Record<string, number | null>> | null;
export type Figures = Record<string, FigureValue>;

export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** A figure that could not be measured: null in the output, the reason on stderr and in `notes`. */
export const notes: Record<string, string> = {};
export function unavailable(figure: string, reason: string): null {
  notes[figure] = reason;
  progress(`${figure}: not measured (${reason})`);
  return null;
}

interface Target {
  readonly figure: string;
  readonly text: string;
  readonly pass: (f: Figures) => boolean | null;
}

const num = (f: Figures, name: string): number | null => {
  const v = f[name];
  return typeof v === 'number' ? v : null;
};

const atLeast = (figure: string, min: number, text: string): Target => ({
  figure,
  text,
  pass: (f) => {
    const v = num(f, figure);
    return v === null ? null : v >= min;
  },
});

const below = (figure: string, max: number, text: string): Target => ({
  figure,
  text,
  pass: (f) => {
    const v = num(f, figure);
    return v === null ? null : v < max;
  },
});

/** Every named value of a figure at most `max`. */
const eachAtMost = (figure: string, max: number, text: string): Target => ({
  figure,
  text,
  pass: (f) => {
    const v = f[figure];
    if (typeof v === 'number') return v <= max;
    const each = Object.values(v ?? {}).filter((x): x is number => typeof x === 'number');
    return each.length === 0 ? null : each.every((x) => x <= max);
  },
});

/** The targets of issues 9 and 17. Ratios are against baselines measured in the same run. */
export const targets: readonly Target[] = [
  atLeast('grant_vs_ceiling', 0.8, '>= 0.8'),
  atLeast('renew_vs_ceiling', 0.8, '>= 0.8'),
  eachAtMost('cold_start_vs_hello', 1.25, '<= 1.25 each'),
  eachAtMost('cold_grant_vs_floor', 1.5, '<= 1.5 each'),
  atLeast('ledger_verify_per_s', 200_000, '>= 200000'),
  below('audit_query_p99_ms', 20, '< 20'),
  {
    figure: 'store_calls_per_renew',
    text: '0 and 0',
    pass: (f) => {
      const v = f['store_calls_per_renew'];
      return v === null || v === undefined || typeof v === 'number' ? null : v['key_reads'] === 0 && v['state_writes'] === 0;
    },
  },
  below('handoff_planned_ms', 1000, '< 1000'),
  eachAtMost('handoff_waiting_ms', 1000, '<= 1000'),
  eachAtMost('cost_per_validator_month', 0.05, '<= $0.05 each'),
  eachAtMost('ledger_entries_per_validator_day', 20, '<= 20 each'),
];

/** Every figure name, in the order the table prints them. */
export const figureOrder: readonly string[] = [
  'crypto_floor_per_s',
  'grant_issue_per_s',
  'grant_p50_ms',
  'grant_p99_ms',
  'grant_vs_floor',
  'grant_ceiling_per_s',
  'grant_vs_ceiling',
  'grant_cpu_ms_per_request',
  'grant_main_thread_ms_per_request',
  'renew_floor_per_s',
  'renew_per_s',
  'renew_vs_floor',
  'renew_ceiling_per_s',
  'renew_vs_ceiling',
  'renew_cpu_ms_per_request',
  'renew_main_thread_ms_per_request',
  'hono_hello_per_s',
  'rss_mb',
  'ledger_append_per_s',
  'ledger_verify_per_s',
  'audit_query_p99_ms',
  'store_calls_per_renew',
  'store_calls_per_validator_day_held',
  'store_calls_per_validator_day_standby',
  'store_calls_per_validator_day_held_many_keys',
  'store_calls_per_validator_day_standby_many_keys',
  'keys_per_pod',
  'store_calls_per_promotion',
  'ledger_entries_per_validator_day',
  'cost_per_validator_month',
  'cost_per_validator_month_one_key_per_pod',
  'cost_secret_per_validator_month',
  'cost_checkpoints_per_validator_month',
  'function_node',
  'cold_start_ms',
  'hello_cold_start_ms',
  'cold_start_vs_hello',
  'cold_grant_ms',
  'warm_grant_ms',
  'cold_grant_floor_hello_ms',
  'cold_grant_vs_floor',
  'bundle_bytes',
  'handoff_planned_ms',
  'handoff_waiting_ms',
  'renew_fleet_validators',
  'renew_fleet_needed_per_s',
  'renew_fleet_per_s',
  'renew_fleet_p99_ms',
  'renew_fleet_cpu_ms_per_renewal',
  'renew_fleet_refused',
  'renew_fleet_seed_s',
  'renew_fleet_per_s_one_key_per_pod',
  'renew_fleet_p99_ms_one_key_per_pod',
  'renew_fleet_cpu_ms_per_renewal_one_key_per_pod',
  'renew_fleet_refused_one_key_per_pod',
  'renew_fleet_seed_s_one_key_per_pod',
  'renew_fleet_rss_mb',
];

function show(v: FigureValue | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
  return Object.entries(v)
    .map(([k, x]) => `${k}=${show(x)}`)
    .join(' ');
}

export function table(figures: Figures): string {
  const rows: [string, string, string, string][] = [['figure', 'value', 'target', 'status']];
  const names = [...figureOrder.filter((n) => n in figures), ...Object.keys(figures).filter((n) => !figureOrder.includes(n))];
  for (const name of names) {
    const t = targets.find((x) => x.figure === name);
    const verdict = t?.pass(figures);
    const status = !t ? '' : verdict === null || verdict === undefined ? 'n/a' : verdict ? 'pass' : 'MISS';
    rows.push([name, show(figures[name]), t?.text ?? '', status]);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  const why = Object.entries(notes);
  if (why.length > 0) out.push('', ...why.map(([k, r]) => `${k}: ${r}`));
  return out.join('\n');
}

export const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
