import { defineConfig } from 'vitest/config';

// Projects: `unit` is fast and in-process (emulators included); `e2e`
// starts real processes and can be run alone with `npm run test:e2e`; both
// run in `npm test`. `slow` (large in-process workloads: a 100,000-entry
// ledger, `npm run test:slow`) and `chain` run in CI after `npm test`.
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
          exclude: ['test/e2e/**', 'test/chain/**', 'test/slow/**', 'test/chaos/runs.test.ts', '**/node_modules/**'],
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
      {
        test: {
          // Chaos runs of real broker and hook processes (test/chaos/): `npm
          // run test:chaos`, run by CI after `npm test`. One run at a time.
          name: 'chaos',
          include: ['test/chaos/runs.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 60_000,
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          // A real validator client on a dev chain (Lodestar, installed in
          // test/chain/lodestar): `npm run test:chain`, run by CI after `npm test`.
          name: 'chain',
          include: ['test/chain/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
