// Cold start of each function bundle (`npm run build`: dist/aws-lambda and
// dist/gcp), against a hello-world Hono bundle for the same target, bundled by
// esbuild and run by the same runner. Timed from the parent: spawn of a fresh
// `node function-runner.mjs` to the line it prints with the first answer to
// /healthz, so module load, init and the first request all count.
//
// The function's stores point at an address that refuses connections at
// once: a liveness route must not need them (a health check that waits on a
// cloud store turns a store outage into a restart loop). If /healthz does
// need them, the figure is null with that as the reason, rather than a number
// that mostly measures a network timeout. cold_grant_ms (a first POST
// /v1/grants on a cold instance) needs the function seeded on moto: its
// tables, secrets and a validator; it stays null until that harness exists.

import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { benchDir, firstJsonLine, repoRoot, spawnBounded } from './children';
import { percentile, progress, round, unavailable, type Figures } from './report';

interface Target {
  readonly key: 'aws_lambda' | 'gcp';
  readonly runner: 'aws-lambda' | 'gcp';
  readonly bundle: string;
  readonly hello: string;
  readonly env: Record<string, string>;
}

// Nothing listens on port 9 (discard) on loopback: connections are refused at once.
const nowhere = 'http://127.0.0.1:9';

const targets: readonly Target[] = [
  {
    key: 'aws_lambda',
    runner: 'aws-lambda',
    bundle: 'dist/aws-lambda/aws-lambda.mjs',
    hello: "import { Hono } from 'hono'; import { handle } from 'hono/aws-lambda'; const app = new Hono(); app.get('/healthz', (c) => c.json({ status: 'ok' })); export const handler = handle(app);",
    env: {
      KEYHOLD_RUNTIME: 'aws-lambda',
      KEYHOLD_STATE_STORE: 'dynamodb',
      KEYHOLD_KEY_STORES: 'aws-secrets-manager',
      KEYHOLD_SIGNING_KEY_SECRET: 'keyhold/signing-keys',
      KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.eu1.example.invalid', jwksUri: `${nowhere}/jwks` }]),
      KEYHOLD_OPERATOR_ISSUER: 'https://operators.example.invalid',
      KEYHOLD_OPERATOR_AUDIENCE: 'keyhold',
      KEYHOLD_OPERATOR_JWKS_URI: `${nowhere}/operators/jwks`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_ENDPOINT_URL: nowhere,
      AWS_LAMBDA_FUNCTION_NAME: 'keyhold',
    },
  },
  {
    key: 'gcp',
    runner: 'gcp',
    bundle: 'dist/gcp/index.mjs',
    hello: "import { Hono } from 'hono'; import { getRequestListener } from '@hono/node-server'; const app = new Hono(); app.get('/healthz', (c) => c.json({ status: 'ok' })); export const keyhold = getRequestListener(app.fetch);",
    env: {
      KEYHOLD_RUNTIME: 'gcp-functions',
      KEYHOLD_STATE_STORE: 'firestore',
      KEYHOLD_KEY_STORES: 'gcp-secret-manager',
      KEYHOLD_SIGNING_KEY_SECRET: 'keyhold-signing-keys',
      KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.eu1.example.invalid', jwksUri: `${nowhere}/jwks` }]),
      KEYHOLD_OPERATOR_ISSUER: 'https://operators.example.invalid',
      KEYHOLD_OPERATOR_AUDIENCE: 'keyhold',
      KEYHOLD_OPERATOR_JWKS_URI: `${nowhere}/operators/jwks`,
      GOOGLE_CLOUD_PROJECT: 'keyhold-bench',
      FIRESTORE_EMULATOR_HOST: '127.0.0.1:9',
      K_SERVICE: 'keyhold',
    },
  },
];

async function runOnce(kind: string, bundle: string, env: Record<string, string>): Promise<{ ms: number; status: number | null; body: string }> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYHOLD_') && !k.startsWith('AWS_')) clean[k] = v;
  const start = performance.now();
  const proc = spawnBounded(process.execPath, [join(benchDir, 'function-runner.mjs'), kind, bundle], { env: { ...clean, ...env }, lifeMs: 30_000 });
  try {
    const answer = await firstJsonLine<{ status: number | null; body: string }>(proc, 25_000);
    return { ms: performance.now() - start, ...answer };
  } finally {
    await proc.stop(1000);
  }
}

async function median(kind: string, bundle: string, env: Record<string, string>, runs: number): Promise<{ ms: number; status: number | null; body: string }> {
  const all: number[] = [];
  let last = { status: null as number | null, body: '' };
  for (let i = 0; i < runs; i++) {
    const r = await runOnce(kind, bundle, env);
    all.push(r.ms);
    last = r;
  }
  all.sort((a, b) => a - b);
  return { ms: percentile(all, 50), ...last };
}

export async function coldStarts(runs: number): Promise<Figures> {
  const names = ['cold_start_ms', 'hello_cold_start_ms', 'cold_start_vs_hello', 'cold_grant_ms', 'bundle_bytes'];
  const none = (reason: string): Figures => Object.fromEntries(names.map((n) => [n, unavailable(n, reason)]));
  if (!existsSync(join(repoRoot, 'functions', 'build.ts'))) return none('functions/build.ts does not exist yet (no function bundles to start)');

  progress('npm run build (function bundles)');
  const b = spawnBounded('npm', ['run', 'build'], { lifeMs: 180_000 });
  const code = await b.exited;
  if (code !== 0) return none(`npm run build failed (exit ${code}): ${b.stderrTail().split('\n').slice(-3).join(' / ')}`);

  const dir = await mkdtemp(join(tmpdir(), 'keyhold-bench-cold-'));
  const cold: Record<string, number | null> = {};
  const hello: Record<string, number | null> = {};
  const ratio: Record<string, number | null> = {};
  const bytes: Record<string, number | null> = {};
  try {
    for (const t of targets) {
      const bundle = join(repoRoot, t.bundle);
      if (!existsSync(bundle)) {
        unavailable(`cold_start_ms.${t.key}`, `${t.bundle} was not built`);
        Object.assign(cold, { [t.key]: null });
        continue;
      }
      bytes[t.key] = statSync(bundle).size;
      const helloBundle = join(dir, `hello-${t.key}.mjs`);
      await build({
        stdin: { contents: t.hello, resolveDir: repoRoot, loader: 'ts' },
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: helloBundle,
        logLevel: 'error',
      });
      const h = await median(t.runner, helloBundle, {}, runs);
      hello[t.key] = round(h.ms, 1);
      progress(`hello_cold_start_ms.${t.key}: ${h.ms.toFixed(1)} (status ${h.status})`);
      let c: { ms: number; status: number | null; body: string };
      try {
        c = await median(t.runner, bundle, t.env, runs);
      } catch (e) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `the bundle gave no /healthz answer: ${(e as Error).message.split('\n').slice(0, 3).join(' / ')}`);
        ratio[t.key] = null;
        continue;
      }
      if (c.status !== 200) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `/healthz answered ${c.status} with its stores unreachable (${c.body}): the liveness route should not need the stores`);
        ratio[t.key] = null;
        continue;
      }
      cold[t.key] = round(c.ms, 1);
      ratio[t.key] = round(c.ms / h.ms, 2);
      progress(`cold_start_ms.${t.key}: ${c.ms.toFixed(1)} (${ratio[t.key]} x hello, ${bytes[t.key]} bytes)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    cold_start_ms: cold,
    hello_cold_start_ms: hello,
    cold_start_vs_hello: ratio,
    cold_grant_ms: unavailable('cold_grant_ms', 'needs the functions seeded on emulators (tables, secrets, a validator); not wired yet'),
    bundle_bytes: bytes,
  };
}
