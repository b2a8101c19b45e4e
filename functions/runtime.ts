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
