// Cold start of each function bundle (`npm run build`: dist/aws-lambda and
// dist/gcp), against a hello-world Hono bundle for the same target, bundled by
// esbuild and run by the same runner. Timed from the parent: spawn of a fresh
// `node function-runner.mjs` to the line it prints with the first answer to
// /healthz, so module load, init and the first request all count.
//
// The functions compose the broker on their first request (functions/
// lazy-broker.ts), and composing reads the signing key ring from the cloud's
// secret store, so even /healthz needs a reachable secret store: pointing the
// stores at nothing would time a 503. The AWS bundle therefore runs against
// moto (moto_server, started here on loopback) holding only the signing key
// secret; the first answer includes that one GetSecretValue round trip, as a
// real cold start does. The GCP bundle would need the Secret Manager and
// Firestore emulators the same way; until that is wired it reports null.
// cold_grant_ms (a first POST /v1/grants on a cold instance) needs the table,
// the key secret and a validator seeded too; it stays null until then.

import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { build } from 'esbuild';
import { generateSigningJwk } from '../../src/grants/signer';
import { benchDir, firstJsonLine, freePort, repoRoot, spawnBounded, type Bounded } from './children';
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
const signingSecret = 'keyhold/signing-keys';

/** moto on loopback with the broker's signing key ring in Secrets Manager; null with a reason if it cannot start. */
async function motoWithSigningKey(): Promise<{ proc: Bounded; endpoint: string } | string> {
  const port = await freePort();
  let proc: Bounded;
  try {
    proc = spawnBounded('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { lifeMs: 240_000 });
  } catch (e) {
    return `moto_server could not start: ${(e as Error).message}`;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const end = Date.now() + 20_000;
  for (;;) {
    const up = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > end || proc.child.exitCode !== null) {
      await proc.stop(1000);
      return `moto_server did not come up on ${endpoint} (is it on PATH?) ${proc.stderrTail().split('\n').slice(-2).join(' / ')}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const sm = new SecretsManagerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  await sm.send(new CreateSecretCommand({ Name: signingSecret, SecretString: JSON.stringify({ keys: [await generateSigningJwk()] }) }));
  sm.destroy();
  return { proc, endpoint };
}

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
      KEYHOLD_SIGNING_KEY_SECRET: signingSecret,
      KEYHOLD_DYNAMODB_TABLE: 'keyhold-state',
      KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.eu1.example.invalid', jwksUri: `${nowhere}/jwks` }]),
      KEYHOLD_OPERATOR_ISSUER: 'https://operators.example.invalid',
      KEYHOLD_OPERATOR_AUDIENCE: 'keyhold',
      KEYHOLD_OPERATOR_JWKS_URI: `${nowhere}/operators/jwks`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
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
    const ms = performance.now() - start;
    if (answer.status !== 200) answer.body += ` log: ${proc.stderrTail().split('\n').slice(-3).join(' / ')}`;
    return { ms, ...answer };
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
  const stops: (() => Promise<void>)[] = [];
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
        // As functions/build.ts bundles the real ones.
        minify: true,
        keepNames: true,
        outfile: helloBundle,
        logLevel: 'error',
      });
      let env = t.env;
      if (t.key === 'aws_lambda') {
        const m = await motoWithSigningKey();
        if (typeof m === 'string') {
          cold[t.key] = unavailable(`cold_start_ms.${t.key}`, m);
          continue;
        }
        stops.push(() => m.proc.stop(2000));
        env = { ...t.env, KEYHOLD_AWS_ENDPOINT: m.endpoint, KEYHOLD_DYNAMODB_ENDPOINT: m.endpoint };
      } else {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, 'the GCP bundle needs the Secret Manager and Firestore emulators wired in (not done yet)');
      }
      const h = await median(t.runner, helloBundle, {}, runs);
      hello[t.key] = round(h.ms, 1);
      progress(`hello_cold_start_ms.${t.key}: ${h.ms.toFixed(1)} (status ${h.status})`);
      if (t.key !== 'aws_lambda') continue;
      let c: { ms: number; status: number | null; body: string };
      try {
        c = await median(t.runner, bundle, env, runs);
      } catch (e) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `the bundle gave no /healthz answer: ${(e as Error).message.split('\n').slice(0, 3).join(' / ')}`);
        ratio[t.key] = null;
        continue;
      }
      if (c.status !== 200) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `/healthz answered ${c.status} (${c.body})`);
        ratio[t.key] = null;
        continue;
      }
      cold[t.key] = round(c.ms, 1);
      ratio[t.key] = round(c.ms / h.ms, 2);
      progress(`cold_start_ms.${t.key}: ${c.ms.toFixed(1)} (${ratio[t.key]} x hello, ${bytes[t.key]} bytes)`);
    }
  } finally {
    for (const stop of stops) await stop();
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
