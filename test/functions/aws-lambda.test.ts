// The Lambda entry point, configured only through the environment as
// Terraform configures it, against moto: DynamoDB for state and the ledger,
// Secrets Manager for validator keys and for the broker's signing key ring.
// First the source module invoked directly with function URL and HTTP API
// events, then the built bundle through lambda-local, sharing the same stores.

import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import * as lambdaLocal from 'lambda-local';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { buildTarget } from '../../functions/build';
import { generateSigningJwk } from '../../src/grants/signer';
import { dynamoBackend } from '../state-stores/backends';
import { describeWithMoto, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';
import { ephemeralKeyPair, generatedKeyMaterial, testAudience, testCluster, testGenesisRoot, testOperator, type TestCluster, type TestOperator } from '../support/fixtures';
import { bundleDir, captureStderr, functionFiles, json, lambdaEvent, operatorHeaders, podHeaders, type HttpRequest, type LambdaResult } from './support';

type Handler = (event: unknown, context?: unknown) => Promise<LambdaResult>;

let moto: Moto;
let sm: SecretsManagerClient;
let cluster: TestCluster;
let operator: TestOperator;
let files: Awaited<ReturnType<typeof functionFiles>>;
let bundle: Awaited<ReturnType<typeof bundleDir>>;
let signingKeyArn: string;

const pod = { namespace: 'validators', podName: 'v1-0', uid: randomUUID() };
const slots = ['eu1/validators/v1-0', 'eu1/validators/v1-standby-0'];

/** A fresh instance of the source entry point: a cold start. */
async function coldStart(): Promise<Handler> {
  vi.resetModules();
  return (await import('../../functions/aws-lambda')).handler as unknown as Handler;
}

describeWithMoto('functions/aws-lambda.ts on moto', () => {
  beforeAll(async () => {
    moto = await startMoto();
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
    [cluster, operator] = await Promise.all([testCluster('eu1'), testOperator('alice')]);
    files = await functionFiles(cluster, operator);
    const table = (await dynamoBackend(moto.endpoint)).table;
    const ring = { keys: [await generateSigningJwk('broker-2026-a')] };
    signingKeyArn = (await sm.send(new CreateSecretCommand({ Name: `keyhold/broker/signing-key-${randomUUID()}`, SecretString: JSON.stringify(ring) }))).ARN!;
    bundle = await bundleDir('aws');
    // Terraform's environment (infra/terraform/aws/lambda.tf), pointed at moto.
    const env: Record<string, string> = {
      KEYHOLD_RUNTIME: 'aws-lambda',
      KEYHOLD_STATE_STORE: 'dynamodb',
      KEYHOLD_DYNAMODB_TABLE: table,
      KEYHOLD_DYNAMODB_ENDPOINT: moto.endpoint,
      KEYHOLD_KEY_STORES: 'aws-secrets-manager',
      KEYHOLD_AWS_SECRET_PREFIX: `keyhold-${randomUUID().slice(0, 8)}/validators/`,
      KEYHOLD_AWS_ENDPOINT: moto.endpoint,
      // moto records the key id without encrypting with it; the setting is passed as Terraform passes it.
      KEYHOLD_AWS_KMS_KEY_ID: `arn:aws:kms:${motoRegion}:123456789012:key/${randomUUID()}`,
      KEYHOLD_SIGNING_KEY_SECRET: signingKeyArn,
      KEYHOLD_CLUSTERS: files.clustersSetting,
      KEYHOLD_OPERATOR_KEYS_FILE: files.operatorKeysFile,
      KEYHOLD_OPERATOR_REQUEST_AUDIENCE: testAudience,
      AWS_REGION: motoRegion,
      AWS_ACCESS_KEY_ID: motoCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: motoCredentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    sm?.destroy();
    await files?.remove();
    await bundle?.remove();
    await moto?.stop();
  });

  let grant: string;

  it('serves health, an operator import, a fetch and a renew from function URL and HTTP API events', async () => {
    const handler = await coldStart();
    const call = (r: HttpRequest, via?: 'function-url' | 'http-api') => handler(lambdaEvent(r, via), {});

    const health = await call({ method: 'GET', path: '/healthz' });
    expect([health.statusCode, json(health)]).toEqual([200, { status: 'ok' }]);

    const gen = generatedKeyMaterial();
    const files64 = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const keyPath = '/v1/validators/v1/key';
    const importBody = JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files: files64, slots, serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
    const imported = await call({ method: 'PUT', path: keyPath, headers: await operatorHeaders(operator, 'PUT', keyPath, importBody), body: importBody }, 'http-api');
    expect(imported.statusCode, imported.body).toBe(201);

    const eph = await ephemeralKeyPair();
    const fetched = await call({ method: 'POST', path: '/v1/grants', headers: await podHeaders(cluster, pod), body: JSON.stringify({ validator: 'v1', ephemeralKey: eph.publicJwk }) });
    expect(fetched.statusCode, fetched.body).toBe(201);
    const body = json(fetched) as { grant: string; epoch: number; key: string; slot: string };
    expect(body).toMatchObject({ validator: 'v1', slot: slots[0], epoch: 1 });
    expect(decodeProtectedHeader(body.grant).kid).toBe('broker-2026-a');
    const { plaintext } = await compactDecrypt(body.key, eph.privateKey);
    expect(JSON.parse(Buffer.from(plaintext).toString()).material.publicId).toBe(gen.publicId);

    const renewed = await call({ method: 'POST', path: '/v1/grants/renew', headers: await podHeaders(cluster, pod), body: JSON.stringify({ grant: body.grant }) }, 'http-api');
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(json(renewed)).toMatchObject({ validator: 'v1', epoch: 1 });
    expect(json(renewed)).not.toHaveProperty('key');
    grant = (json(renewed) as { grant: string }).grant;

    const status = await call({ method: 'GET', path: '/v1/validators/v1?view=full', headers: await operatorHeaders(operator, 'GET', '/v1/validators/v1?view=full') });
    expect(status.statusCode, status.body).toBe(200);
    expect(json(status)).toMatchObject({ designation: { state: 'held', podUid: pod.uid, epoch: 1 } });
  });

  it('runs the built bundle under lambda-local against the same stores', async () => {
    const built = await buildTarget('aws-lambda', { outdir: bundle.dir });
    const mod = (await import(pathToFileURL(built.entry).href)) as { handler: Handler };
    const invoke = async (r: HttpRequest, via?: 'function-url' | 'http-api') =>
      (await lambdaLocal.execute({ event: lambdaEvent(r, via), lambdaFunc: mod, lambdaHandler: 'handler', timeoutMs: 15_000, verboseLevel: 0 })) as LambdaResult;

    expect((await invoke({ method: 'GET', path: '/healthz' })).statusCode).toBe(200);
    // A grant one instance issued renews at another: same table, same ring.
    const renewed = await invoke({ method: 'POST', path: '/v1/grants/renew', headers: await podHeaders(cluster, pod), body: JSON.stringify({ grant }) }, 'http-api');
    expect(renewed.statusCode, renewed.body).toBe(200);
    const eph = await ephemeralKeyPair();
    const again = await invoke({ method: 'POST', path: '/v1/grants', headers: await podHeaders(cluster, pod), body: JSON.stringify({ validator: 'v1', ephemeralKey: eph.publicJwk }) });
    expect(again.statusCode, again.body).toBe(201);
    expect(json(again)).toMatchObject({ epoch: 1 });
    const bad = await invoke({ method: 'POST', path: '/v1/grants', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([bad.statusCode, json(bad).code]).toEqual([401, 'unauthenticated']);
  });

  it('answers 503 until the signing key secret has a value, then starts without a redeploy', async () => {
    const name = `keyhold/broker/signing-key-${randomUUID()}`;
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: name }));
    vi.stubEnv('KEYHOLD_SIGNING_KEY_SECRET', ARN!);
    const logs = captureStderr();
    try {
      const handler = await coldStart();
      for (let i = 0; i < 2; i++) {
        const r = await handler(lambdaEvent({ method: 'GET', path: '/readyz' }), {});
        expect([r.statusCode, json(r)]).toEqual([503, { code: 'broker_unavailable', message: 'The broker is not available; retry later.' }]);
        expect(r.headers['retry-after']).toBe('5');
      }
      const refused = logs.lines().filter((l) => l.event === 'broker_start_refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]!.reason).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: .*no AWSCURRENT value/);

      await sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: JSON.stringify({ keys: [await generateSigningJwk()] }) }));
      await new Promise((r) => setTimeout(r, 1000)); // attempts are at least a second apart
      const r = await handler(lambdaEvent({ method: 'GET', path: '/readyz' }), {});
      expect(r.statusCode).toBe(200);
      expect(logs.lines().some((l) => l.event === 'broker_started')).toBe(true);
    } finally {
      logs.restore();
      vi.stubEnv('KEYHOLD_SIGNING_KEY_SECRET', signingKeyArn);
    }
  });
});
