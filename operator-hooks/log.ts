// One line per event on stderr, prefixed with the verb, so `kubectl logs`
// reads as a story. Nothing secret is ever passed here: callers log codes,
// epochs and durations, never tokens, grants or key bytes.

export type Log = (line: string) => void;

export const stderrLog =
  (verb: string): Log =>
  (line) => {
    process.stderr.write(`${new Date().toISOString()} keyhold-hook ${verb}: ${line}\n`);
  };

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
