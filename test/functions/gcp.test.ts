// The GCP entry point as Cloud Functions runs it: the built bundle in
// dist/gcp form, served by functions-framework's own CLI on a local port and
// driven over HTTP, configured only through the environment as Terraform
// configures it. Firestore (Google's emulator) keeps state and the ledger;
// Secret Manager (the project's emulator) keeps validator keys and the
// broker's signing key ring.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTarget } from '../../functions/build';
import { generateSigningJwk } from '../../src/grants/signer';
import { crc32c } from '../../src/stores/gcp-secret-manager/crc32c';
import { clientFor } from '../emulators/gcp-secret-manager/harness';
import { startGcpSecretManagerEmulator } from '../emulators/gcp-secret-manager/server';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { requireTool } from '../state-stores/backends';
import { ephemeralKeyPair, generatedKeyMaterial, testAudience, testCluster, testGenesisRoot, testOperator, type TestCluster, type TestOperator } from '../support/fixtures';
import { bundleDir, functionFiles, operatorHeaders, podHeaders, repoRoot } from './support';
import { freePort } from '../support/ports';

const PROJECT = 'test-project';


interface Served {
  readonly url: string;
  stderr(): string;
  stop(): Promise<void>;
}

/** `functions-framework --target=keyhold --source=<bundle>` as the Cloud Functions runtime starts it. */
async function serve(source: string, env: Record<string, string>): Promise<Served> {
  const port = await freePort();
  const bin = join(repoRoot, 'node_modules/.bin/functions-framework');
  const child: ChildProcess = spawn(bin, ['--target=keyhold', `--source=${source}`, `--port=${port}`, '--signature-type=http'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (err += c.toString()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`functions-framework exited: ${err}`);
    const up = await fetch(`${url}/favicon.ico`, { signal: AbortSignal.timeout(500) }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`functions-framework did not listen: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stderr: () => err,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const skip = requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator (gcloud, java)');

describe.skipIf(skip !== undefined)('functions/gcp.ts bundle under functions-framework', () => {
  let firestore: FirestoreEmulator;
  let secrets: Awaited<ReturnType<typeof startGcpSecretManagerEmulator>>;
  let cluster: TestCluster;
  let operator: TestOperator;
  let files: Awaited<ReturnType<typeof functionFiles>>;
  let bundle: Awaited<ReturnType<typeof bundleDir>>;
  let fn: Served;
  let env: Record<string, string>;

  beforeAll(async () => {
    bundle = await bundleDir('gcp');
    let built: Awaited<ReturnType<typeof buildTarget>>;
    [firestore, secrets, cluster, operator, built] = await Promise.all([
      startFirestoreEmulator(),
      startGcpSecretManagerEmulator(),
      testCluster('eu1'),
      testOperator('alice'),
      buildTarget('gcp', { outdir: bundle.dir }),
    ]);
    files = await functionFiles(cluster, operator);

    const sm = clientFor(secrets.port);
    const signingSecret = `keyhold-broker-signing-key-${randomUUID().slice(0, 8)}`;
    await sm.createSecret({ parent: `projects/${PROJECT}`, secretId: signingSecret, secret: { replication: { automatic: {} } } });
    const ring = Buffer.from(JSON.stringify({ keys: [await generateSigningJwk('broker-gcp-a')] }));
    await sm.addSecretVersion({ parent: `projects/${PROJECT}/secrets/${signingSecret}`, payload: { data: ring, dataCrc32c: crc32c(ring) } });
    await sm.close();

    // Terraform's environment (infra/terraform/gcp/function.tf), pointed at the emulators.
    env = {
      KEYHOLD_RUNTIME: 'gcp-functions',
      KEYHOLD_STATE_STORE: 'firestore',
      KEYHOLD_FIRESTORE_DATABASE: '(default)',
      KEYHOLD_FIRESTORE_COLLECTION_PREFIX: `k${randomUUID().slice(0, 8)}`,
      FIRESTORE_EMULATOR_HOST: firestore.host,
      KEYHOLD_KEY_STORES: 'gcp-secret-manager',
      KEYHOLD_GCP_PROJECT: PROJECT,
      KEYHOLD_GCP_SECRET_PREFIX: `keyhold-validators-${randomUUID().slice(0, 8)}-`,
      KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: secrets.address,
      KEYHOLD_SIGNING_KEY_SECRET: `projects/${PROJECT}/secrets/${signingSecret}`,
      KEYHOLD_CLUSTERS: files.clustersSetting,
      KEYHOLD_OPERATOR_KEYS_FILE: files.operatorKeysFile,
      KEYHOLD_OPERATOR_REQUEST_AUDIENCE: testAudience,
    };
    fn = await serve(built.outdir, env);
  });
  afterAll(async () => {
    await fn?.stop();
    await secrets?.close();
    await firestore?.stop();
    await files?.remove();
    await bundle?.remove();
  });

  const pod = { namespace: 'validators', podName: 'v1-0', uid: randomUUID() };
  const slots = ['eu1/validators/v1-0', 'eu1/validators/v1-standby-0'];

  it('serves health, an operator import, a fetch and a renew over HTTP', async () => {
    const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => fetch(`${fn.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });

    const health = await call('GET', '/healthz');
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);

    const gen = generatedKeyMaterial();
    const files64 = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const keyPath = '/v1/validators/v1/key';
    const importBody = JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files: files64, slots, serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
    const imported = await call('PUT', keyPath, await operatorHeaders(operator, 'PUT', keyPath, importBody), importBody);
    expect(imported.status, await imported.clone().text()).toBe(201);

    const eph = await ephemeralKeyPair();
    const fetched = await call('POST', '/v1/grants', await podHeaders(cluster, pod), JSON.stringify({ validator: 'v1', ephemeralKey: eph.publicJwk }));
    const body = (await fetched.json()) as { grant: string; key: string; epoch: number; slot: string };
    expect(fetched.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ slot: slots[0], epoch: 1 });
    expect(decodeProtectedHeader(body.grant).kid).toBe('broker-gcp-a');
    const { plaintext } = await compactDecrypt(body.key, eph.privateKey);
    expect(JSON.parse(Buffer.from(plaintext).toString()).material.publicId).toBe(gen.publicId);

    const renewed = await call('POST', '/v1/grants/renew', await podHeaders(cluster, pod), JSON.stringify({ grant: body.grant }));
    expect(renewed.status, await renewed.clone().text()).toBe(200);
    expect(await renewed.json()).toMatchObject({ validator: 'v1', epoch: 1 });

    // functions-framework parsed this body as text already: the broker still sees the bytes and refuses the type.
    const wrongType = await call('POST', '/v1/grants', { ...(await podHeaders(cluster, pod)), 'content-type': 'text/plain' }, JSON.stringify({ validator: 'v1', ephemeralKey: eph.publicJwk }));
    expect([wrongType.status, ((await wrongType.json()) as { code: string }).code]).toEqual([415, 'unsupported_media_type']);
    expect(fn.stderr()).not.toContain(gen.password);
  });

  it('refuses a configuration the bundle cannot serve: 503 and the reason logged', async () => {
    const other = await serve(join(bundle.dir), { ...env, KEYHOLD_STATE_STORE: 'dynamodb', KEYHOLD_DYNAMODB_TABLE: 'keyhold-state' });
    try {
      const r = await fetch(`${other.url}/readyz`);
      expect([r.status, await r.json()]).toEqual([503, { code: 'broker_unavailable', message: 'The broker is not available; retry later.' }]);
      expect(other.stderr()).toContain('the store backend \\"dynamodb\\" is not in this gcp bundle');
    } finally {
      await other.stop();
    }
  });
});
