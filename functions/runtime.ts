// The Node.js the deployed broker runs on, one major for every place that
// names it: Lambda (infra/terraform/aws), Cloud Functions (infra/terraform/gcp),
// the images (infra/images/broker, operator-hooks) and esbuild's target here.
// Node 20 reached its end of life in April 2026 and its function runtimes
// are being retired; development still runs on Node 20 or 22 (package.json
// engines), and CI runs the whole suite on both (.ci/run).
// test/terraform/runtimes.test.ts holds every one of those places to this.
export const deployRuntime = {
  nodeMajor: 22,
  esbuildTarget: 'node22',
  lambda: 'nodejs22.x',
  cloudFunctions: 'nodejs22',
} as const;

/**
 * The flags Lambda's Node.js bootstrap (/var/runtime/bootstrap) starts the
 * runtime with, for a function of `memoryMb`, so the cold-start bench starts
 * its Lambda processes as Lambda does. AWS does not document these: they
 * come from third-party copies of that script (a nodejs18.x image's
 * bootstrap quoted in a public write-up, and older custom-runtime copies),
 * which give `--expose-gc`, `--max-http-header-size 81920`, a tenth of the
 * memory as new space, half of that as each semi-space and the rest as old
 * space. Copies of the nodejs20.x and nodejs24.x bootstraps carry a comment
 * that new space "should be 5%" of the memory; their arithmetic was not
 * readable in those copies, so nodejs22.x may use a smaller semi-space than
 * this (12 instead of 25 MB at 512 MB).
 */
export function lambdaNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return ['--expose-gc', '--max-http-header-size', '81920', `--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}

/** infra/terraform/aws variable memory_size's default (test/terraform/runtimes.test.ts holds the two together). */
export const lambdaDefaultMemoryMb = 512;
