// Cold start of each function bundle (`npm run build`: dist/aws-lambda and
// dist/gcp), against a hello-world Hono bundle for the same target, bundled by
// esbuild and run by the same runner. Timed from the parent: spawn of a fresh
// `node function-runner.mjs` to the line it prints with the first answer to
// /healthz, so module load, init and the first request all count.
//
// /healthz is liveness and needs no store (functions/lazy-broker.ts), so the
// cold start is module load and the first answer. cold_grant_ms is, per
// cloud, the first POST /v1/grants of a fresh function process against the
// emulated stores (AWS under lambda-local against moto: DynamoDB state, the
// key and the signing key ring in Secrets Manager; GCP under
// functions-framework against Google's Firestore emulator and the project's
// Secret Manager emulator), with a validator imported beforehand by another
// process: composing the broker, reading the ring, verifying the pod token,
// reading the designation and the key, one transaction with its ledger entry
// and the JWE all count. Its floor is that runtime's hello-world cold start
// plus the same grant sent again to the now warm process (warm_grant_ms).
//
// The function processes, hello and broker alike, run on the deploy
// runtime's Node (functions/runtime.ts), found by functions/deploy-node.ts:
// KEYHOLD_DEPLOY_NODE, this process, or the Node 22 .ci/run installs; the
// Lambda ones with the flags Lambda's bootstrap passes (lambdaNodeFlags).
// Without that Node they run on this one, the bench says so on stderr and
// function_node.deploy_major is 0. Each process gets an empty temporary
// directory of its own, as a new instance does.

import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import { build } from 'esbuild';
import { findDeployNode } from '../../functions/deploy-node';
import { deployRuntime, lambdaDefaultMemoryMb, lambdaNodeFlags } from '../../functions/runtime';
import { generateSigningJwk } from '../../src/grants/signer';
import { crc32c } from '../../src/stores/gcp-secret-manager/crc32c';
import { startGcpSecretManagerEmulator } from '../emulators/gcp-secret-manager/server';
import { firestoreEmulatorAvailable, startFirestoreEmulator } from '../firestore-emulator';
import { ephemeralKeyPair, generatedKeyMaterial, testAudience, testCluster, testGenesisRoot, testOperator } from '../support/fixtures';
import { benchDir, firstJsonLine, freePort, repoRoot, spawnBounded, type Bounded } from './children';
import { summarizeProfile } from './profile';
import { percentile, progress, round, unavailable, type Figures } from './report';

export interface Target {
  readonly key: 'aws_lambda' | 'gcp';
  readonly runner: 'aws-lambda' | 'gcp';
  readonly bundle: string;
  readonly hello: string;
  readonly env: Record<string, string>;
  /** Flags the platform starts Node with. */
  readonly nodeFlags: readonly string[];
}

/** The Node that runs the function processes, and whether it is the deploy runtime's major. */
export interface FunctionNode {
  readonly path: string;
  readonly version: string;
  readonly deployMajor: boolean;
}

/** The deploy runtime's Node when there is one here; otherwise this process's, said loudly. */
export function functionNode(env: NodeJS.ProcessEnv = process.env): FunctionNode {
  const found = findDeployNode(env);
  if ('reason' in found) {
    progress(`FALLBACK: the function processes run on this process's Node ${process.version}, NOT the deploy runtime's Node ${deployRuntime.nodeMajor} (${found.reason})`);
    return { path: process.execPath, version: process.version, deployMajor: false };
  }
  progress(`the function processes run on Node ${found.version} (${found.source}: ${found.path}), the deploy runtime's major`);
  return { path: found.path, version: found.version, deployMajor: true };
}

let fnNode: FunctionNode | undefined;
const nodeForFunctions = () => (fnNode ??= functionNode());

// Nothing listens on port 9 (discard) on loopback: connections are refused at once.
const nowhere = 'http://127.0.0.1:9';
const signingSecret = 'keyhold/signing-keys';
const gcpProject = 'keyhold-bench';
const gcpSigningSecret = 'keyhold-signing-keys';

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

export const targets: readonly Target[] = [
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
    nodeFlags: lambdaNodeFlags(lambdaDefaultMemoryMb),
  },
  {
    key: 'gcp',
    runner: 'gcp',
    bundle: 'dist/gcp/index.mjs',
    // The same target: a function registered with functions-framework, which stays external as in the real bundle.
    hello: "import { http } from '@google-cloud/functions-framework'; import { Hono } from 'hono'; import { getRequestListener } from '@hono/node-server'; const app = new Hono(); app.get('/healthz', (c) => c.json({ status: 'ok' })); http('keyhold', getRequestListener(app.fetch, { overrideGlobalObjects: false }));",
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
    // Cloud Functions starts functions-framework with no V8 flag of its own that this project knows of.
    nodeFlags: [],
  },
];

/** The hello-world function of a target, bundled into `dir` (inside the repository, so functions-framework resolves). */
export async function buildHello(t: Target, dir: string): Promise<string> {
  const outfile = join(dir, `hello-${t.key}.mjs`);
  await build({
    stdin: { contents: t.hello, resolveDir: repoRoot, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // As functions/build.ts bundles the real ones.
    minify: true,
    keepNames: true,
    external: ['@google-cloud/functions-framework'],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/**
 * One fresh function process on the function Node, with the platform's
 * flags and an empty temporary directory of its own (a new instance's /tmp
 * is empty). `nodeArgs` (a profile): the runner is let exit on its own, so
 * what it writes at exit is complete.
 */
async function runOnce(t: Pick<Target, 'runner' | 'nodeFlags'>, bundle: string, env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<{ ms: number; status: number | null; body: string; warmMs?: number | null }> {
  const clean: NodeJS.ProcessEnv = {};
  // NODE_OPTIONS would add flags the platform does not pass.
  for (const [k, v] of Object.entries(process.env)) if (!/^(KEYHOLD_|AWS_|GOOGLE_|FIRESTORE_|NODE_OPTIONS$)/.test(k)) clean[k] = v;
  const tmp = await mkdtemp(join(tmpdir(), 'keyhold-bench-instance-'));
  const start = performance.now();
  const proc = spawnBounded(nodeForFunctions().path, [...t.nodeFlags, ...nodeArgs, join(benchDir, 'function-runner.mjs'), t.runner, bundle], { env: { ...clean, TMPDIR: tmp, ...env }, lifeMs: 30_000 });
  try {
    const answer = await firstJsonLine<{ status: number | null; body: string; warmMs?: number | null }>(proc, 25_000);
    const ms = performance.now() - start;
    if (answer.status !== 200) answer.body += ` log: ${proc.stderrTail().split('\n').slice(-3).join(' / ')}`;
    if (nodeArgs.length > 0) await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 10_000))]);
    return { ms, ...answer };
  } finally {
    await proc.stop(1000);
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function coldStarts(runs: number, { profile = false }: { profile?: boolean } = {}): Promise<Figures> {
  const names = ['function_node', 'cold_start_ms', 'hello_cold_start_ms', 'cold_start_vs_hello', 'cold_grant_ms', 'warm_grant_ms', 'cold_grant_floor_hello_ms', 'cold_grant_vs_floor', 'bundle_bytes'];
  const none = (reason: string): Figures => Object.fromEntries(names.map((n) => [n, unavailable(n, reason)]));
  if (!existsSync(join(repoRoot, 'functions', 'build.ts'))) return none('functions/build.ts does not exist yet (no function bundles to start)');

  progress('npm run build (function bundles)');
  const b = spawnBounded('npm', ['run', 'build'], { lifeMs: 180_000 });
  const code = await b.exited;
  if (code !== 0) return none(`npm run build failed (exit ${code}): ${b.stderrTail().split('\n').slice(-3).join(' / ')}`);

  // Inside the repository, so an external import (functions-framework) resolves as it does for dist/gcp.
  const dir = await mkdtemp(join(repoRoot, 'dist', 'bench-hello-'));
  const cold: Record<string, number | null> = {};
  const hello: Record<string, number | null> = {};
  const ratio: Record<string, number | null> = {};
  const bytes: Record<string, number | null> = {};
  // The floor of a cold first grant: the runtime's own cold start plus what the grant costs once warm, on the same stores.
  const coldGrant: Record<string, number | null> = {};
  const warmGrant: Record<string, number | null> = {};
  const floorHello: Record<string, number | null> = {};
  const vsFloor: Record<string, number | null> = {};
  const node = nodeForFunctions();
  const [major, minor, patch] = node.version.slice(1).split('.').map(Number) as [number, number, number];
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const t of targets) {
      const bundle = join(repoRoot, t.bundle);
      if (!existsSync(bundle)) {
        unavailable(`cold_start_ms.${t.key}`, `${t.bundle} was not built`);
        Object.assign(cold, { [t.key]: null });
        continue;
      }
      // Every chunk the bundle ships (the entry loads the rest on first use).
      const bundleDir = join(bundle, '..');
      bytes[t.key] = (readdirSync(bundleDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.mjs')).reduce((n, f) => n + statSync(join(bundleDir, f)).size, 0);
      const helloBundle = await buildHello(t, dir);
      let env = t.env;
      if (t.key === 'aws_lambda') {
        const m = await motoWithSigningKey();
        if (typeof m === 'string') {
          cold[t.key] = unavailable(`cold_start_ms.${t.key}`, m);
          continue;
        }
        stops.push(() => m.proc.stop(2000));
        env = { ...t.env, KEYHOLD_AWS_ENDPOINT: m.endpoint, KEYHOLD_DYNAMODB_ENDPOINT: m.endpoint };
      }
      // Hello and the real bundle alternate, so both see the same machine: the ratio is what counts.
      const helloRuns: number[] = [];
      const realRuns: number[] = [];
      let c: { ms: number; status: number | null; body: string } = { ms: 0, status: null, body: '' };
      try {
        for (let i = 0; i < runs; i++) {
          helloRuns.push((await runOnce(t, helloBundle, {})).ms);
          c = await runOnce(t, bundle, env);
          if (c.status !== 200) break;
          realRuns.push(c.ms);
        }
      } catch (e) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `the bundle gave no /healthz answer: ${(e as Error).message.split('\n').slice(0, 3).join(' / ')}`);
        ratio[t.key] = null;
        continue;
      }
      const h = { ms: percentile([...helloRuns].sort((a, b) => a - b), 50) };
      hello[t.key] = round(h.ms, 1);
      progress(`hello_cold_start_ms.${t.key}: ${h.ms.toFixed(1)}`);
      if (c.status !== 200) {
        cold[t.key] = unavailable(`cold_start_ms.${t.key}`, `/healthz answered ${c.status} (${c.body})`);
        ratio[t.key] = null;
        continue;
      }
      c = { ...c, ms: percentile([...realRuns].sort((a, b) => a - b), 50) };
      cold[t.key] = round(c.ms, 1);
      ratio[t.key] = round(c.ms / h.ms, 2);
      progress(`cold_start_ms.${t.key}: ${c.ms.toFixed(1)} (${ratio[t.key]} x hello, ${bytes[t.key]} bytes)`);
      let grant: ColdGrant | null;
      try {
        grant = await coldGrantMs(t, helloBundle, runs, profile);
      } catch (e) {
        grant = unavailable(`cold_grant_ms.${t.key}`, (e as Error).message.split('\n').slice(0, 2).join(' / '));
      }
      coldGrant[t.key] = grant?.cold ?? null;
      warmGrant[t.key] = grant?.warm ?? null;
      floorHello[t.key] = grant?.hello ?? null;
      vsFloor[t.key] = grant ? round(grant.cold / (grant.hello + grant.warm), 2) : null;
      if (grant) progress(`cold_grant_vs_floor.${t.key}: ${vsFloor[t.key]} (cold ${grant.cold} ms against hello ${grant.hello} + warm ${grant.warm} ms, measured in turn, on Node ${node.version}${t.nodeFlags.length ? ` ${t.nodeFlags.join(' ')}` : ''})`);
    }
  } finally {
    for (const stop of stops) await stop();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    function_node: { major, minor, patch, deploy_major: node.deployMajor ? 1 : 0 },
    cold_start_ms: cold,
    hello_cold_start_ms: hello,
    cold_start_vs_hello: ratio,
    cold_grant_ms: coldGrant,
    warm_grant_ms: warmGrant,
    cold_grant_floor_hello_ms: floorHello,
    cold_grant_vs_floor: vsFloor,
    bundle_bytes: bytes,
  };
}

/** The emulated stores one cloud's function is configured against: its environment, and how to stop them. */
interface GrantStores {
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/** moto: DynamoDB (state) and Secrets Manager (keys, the signing key ring). */
async function awsGrantStores(): Promise<GrantStores | string> {
  const m = await motoWithSigningKey();
  if (typeof m === 'string') return m;
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  const ddb = new DynamoDBClient({ endpoint: m.endpoint, region: 'us-east-1', credentials });
  await ddb.send(
    new CreateTableCommand({
      TableName: 'keyhold-state',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }),
  );
  ddb.destroy();
  return { env: { KEYHOLD_AWS_ENDPOINT: m.endpoint, KEYHOLD_DYNAMODB_ENDPOINT: m.endpoint }, stop: () => m.proc.stop(2000) };
}

/** Google's Firestore emulator (state) and the project's Secret Manager emulator over gRPC (keys, the signing key ring). */
async function gcpGrantStores(): Promise<GrantStores | string> {
  if (!firestoreEmulatorAvailable()) return 'the Firestore emulator needs gcloud and java on PATH';
  const [firestore, secrets] = await Promise.all([startFirestoreEmulator(), startGcpSecretManagerEmulator()]);
  const sm = new SecretManagerServiceClient({ apiEndpoint: '127.0.0.1', port: secrets.port, sslCreds: grpc.credentials.createInsecure(), projectId: gcpProject, universeDomain: 'googleapis.com' });
  try {
    await sm.createSecret({ parent: `projects/${gcpProject}`, secretId: gcpSigningSecret, secret: { replication: { automatic: {} } } });
    const ring = Buffer.from(JSON.stringify({ keys: [await generateSigningJwk()] }));
    await sm.addSecretVersion({ parent: `projects/${gcpProject}/secrets/${gcpSigningSecret}`, payload: { data: ring, dataCrc32c: crc32c(ring) } });
  } finally {
    await sm.close();
  }
  return {
    env: {
      FIRESTORE_EMULATOR_HOST: firestore.host,
      KEYHOLD_FIRESTORE_COLLECTION_PREFIX: `b${randomUUID().slice(0, 8)}`,
      KEYHOLD_GCP_PROJECT: gcpProject,
      KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: secrets.address,
      KEYHOLD_SIGNING_KEY_SECRET: `projects/${gcpProject}/secrets/${gcpSigningSecret}`,
    },
    async stop() {
      await secrets.close();
      await firestore.stop();
    },
  };
}

const grantStores: Record<Target['key'], () => Promise<GrantStores | string>> = { aws_lambda: awsGrantStores, gcp: gcpGrantStores };

export interface ColdGrant {
  /** Medians, ms: spawn to the first grant's answer; the same grant again in that process; spawn to hello's first answer. */
  readonly cold: number;
  readonly warm: number;
  readonly hello: number;
}

/**
 * Process start to the first answered grant, on a fresh function process of
 * one cloud each run; the same grant again in that process, warm; and the
 * runtime's hello-world cold start, run in turn with them so that the floor
 * and the cold grant see the same machine.
 */
export async function coldGrantMs(t: Target, helloBundle: string, runs: number, profile = false): Promise<ColdGrant | null> {
  const figure = `cold_grant_ms.${t.key}`;
  const bundle = join(repoRoot, t.bundle);
  if (!existsSync(bundle)) return unavailable(figure, `${t.bundle} was not built`);
  const stores = await grantStores[t.key]();
  if (typeof stores === 'string') return unavailable(figure, stores);
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-bench-grant-'));
  try {
    const cluster = await testCluster('eu1');
    const operator = await testOperator('bench');
    await writeFile(join(dir, 'jwks.json'), JSON.stringify(cluster.config.jwks));
    await writeFile(join(dir, 'operators.json'), JSON.stringify([operator.key]));
    const { KEYHOLD_OPERATOR_ISSUER: _i, KEYHOLD_OPERATOR_AUDIENCE: _a, KEYHOLD_OPERATOR_JWKS_URI: _j, ...base } = t.env;
    const env = {
      ...base,
      ...stores.env,
      KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: cluster.config.issuer, jwksFile: join(dir, 'jwks.json') }]),
      KEYHOLD_OPERATOR_KEYS_FILE: join(dir, 'operators.json'),
      KEYHOLD_OPERATOR_REQUEST_AUDIENCE: testAudience,
    };
    // Seed in another process: the validator and its key, as an operator would.
    const gen = generatedKeyMaterial();
    const files = Object.fromEntries([...gen.material.files].map(([n, f]) => [n, Buffer.from(f.reveal()).toString('base64')]));
    const importPath = '/v1/validators/v1/key';
    const importBody = JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files, slots: ['eu1/validators/v1-0'], serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
    // A freshly started emulator (Firestore's runs on a JVM) may time out its
    // first transactions on a loaded machine: that is set-up, not a figure, so
    // the import is tried again, with a new request token each time.
    let seeded = { status: null as number | null, body: '' };
    for (let attempt = 0; attempt < 4 && seeded.status !== 201; attempt++) {
      seeded = await runWith(t, bundle, env, {
        method: 'PUT',
        path: importPath,
        headers: { authorization: `Bearer ${await operator.token('PUT', importPath, Date.now(), { body: importBody })}`, 'content-type': 'application/json' },
        body: importBody,
      });
      if (seeded.status !== 503) break;
    }
    if (seeded.status !== 201) return unavailable(figure, `seeding the validator answered ${seeded.status} (${seeded.body})`);
    const podUid = randomUUID();
    const { publicJwk } = await ephemeralKeyPair();
    const all: number[] = [];
    const warm: number[] = [];
    const hello: number[] = [];
    const grantOnce = async (nodeArgs: readonly string[] = []) => {
      const token = await cluster.podToken({ podName: 'v1-0', podUid, now: Date.now() });
      return runWith(t, bundle, { ...env, BENCH_WARM: '1' }, {
        method: 'POST',
        path: '/v1/grants',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ validator: 'v1', ephemeralKey: publicJwk }),
      }, nodeArgs);
    };
    for (let i = 0; i < runs; i++) {
      hello.push((await runOnce(t, helloBundle, {})).ms);
      const r = await grantOnce();
      if (r.status !== 201) return unavailable(figure, `the first grant answered ${r.status} (${r.body})`);
      if (typeof r.warmMs !== 'number') return unavailable(figure, 'the warm grant after the first did not answer as the first did');
      all.push(r.ms);
      warm.push(r.warmMs);
    }
    const median = (xs: number[]) => round(percentile([...xs].sort((a, b) => a - b), 50), 1);
    const result = { cold: median(all), warm: median(warm), hello: median(hello) };
    progress(`cold_grant_ms.${t.key}: ${result.cold}; warm_grant_ms.${t.key}: ${result.warm}; hello in turn: ${result.hello}`);
    if (profile) {
      // One more cold first grant under the profiler, after the timed ones so it does not move them.
      const profileDir = join(dir, 'profile');
      const r = await grantOnce(['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', '200']);
      progress(`cold first grant on ${t.key} under --cpu-prof: ${r.status} in ${r.ms.toFixed(0)} ms`);
      await summarizeProfile(profileDir, 25, 50);
    }
    return result;
  } finally {
    await stores.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function runWith(t: Pick<Target, 'runner' | 'nodeFlags'>, bundle: string, env: Record<string, string>, req: { method: string; path: string; headers: Record<string, string>; body: string }, nodeArgs: readonly string[] = []) {
  return runOnce(t, bundle, { ...env, BENCH_METHOD: req.method, BENCH_PATH: req.path, BENCH_HEADERS: JSON.stringify(req.headers), BENCH_BODY: req.body }, nodeArgs);
}
