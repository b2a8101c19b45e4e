import { defineConfig } from 'vitest/config';

// Three projects: `unit` is fast and in-process (emulators included);
// `slow` holds large in-process workloads (`npm run test:slow`); `e2e`
// starts real processes and can be run alone with `npm run test:e2e`.
// `npm test` (and so .ci/run) runs all three.
export default defineConfig({
  test: {
    // Vitest's default on 2 cores is one worker (cores - 1). This suite mostly
    // waits (emulators, timers, child processes), so three files at a time
    // finish sooner without starving each other.
    maxWorkers: 3,
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'functions/**/*.test.ts', 'operator-hooks/**/*.test.ts', 'infra/**/*.test.ts'],
          exclude: ['test/e2e/**', 'test/slow/**', 'node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          // Large in-process workloads (a 100,000-entry ledger): `npm run test:slow`.
          name: 'slow',
          include: ['test/slow/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Real processes and ports: one file at a time on 2 cores.
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
