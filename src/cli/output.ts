// Output for people (aligned tables) and for scripts (JSON, NDJSON).

export type Format = 'table' | 'json' | 'ndjson';

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function emit(format: Format, rows: Record<string, unknown>[], columns: string[], write: (s: string) => void = (s) => process.stdout.write(s)): void {
  if (format === 'json') write(`${JSON.stringify(rows, null, 2)}\n`);
  else if (format === 'ndjson') for (const r of rows) write(`${JSON.stringify(r)}\n`);
  else write(`${table(rows, columns)}\n`);
}

/** A one-line progress note on stderr, only where a person is watching. */
export function progress(message: string): () => void {
  if (!process.stderr.isTTY) return () => {};
  const frames = ['|', '/', '-', '\\'];
  let i = 0;
  const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % 4]} ${message}`), 120);
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}
