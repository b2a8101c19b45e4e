// The AWS adapter against moto, through the fault proxy (which counts calls),
// built by its factory from environment settings as the broker builds it.
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memoryLogger } from '../../log';
import { systemClock } from '../../ports';
import { describeWithMoto, motoCredentials, motoRegion, startMoto, type Moto } from '../../../test/moto';
import { startFaultProxy, type FaultProxy } from '../../../test/emulators/fault-proxy';
import { generatedKeyMaterial } from '../../../test/support/fixtures';
import { describeKeyStoreContract, freshValidator } from '../key-store.contract';
import type { StoreContext } from '../registry';
import { createAwsSecretsManagerKeyStore } from './factory';
import { awsSecretStringLimit } from './key-store';

let moto: Moto;
let proxy: FaultProxy;
let raw: SecretsManagerClient;
const prefix = 'keyhold-test/validators/';

const ctx = (env: Record<string, string> = {}): StoreContext => ({
  env: { KEYHOLD_AWS_ENDPOINT: proxy.address, KEYHOLD_AWS_REGION: motoRegion, KEYHOLD_AWS_SECRET_PREFIX: prefix, ...env },
  home: '/nonexistent',
  clock: systemClock,
  logger: memoryLogger(),
});

describeWithMoto('aws-secrets-manager on moto', () => {
  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
    raw = new SecretsManagerClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
  });
  afterAll(async () => {
    raw?.destroy();
    await proxy?.close();
    await moto?.stop();
  });

  describeKeyStoreContract('aws-secrets-manager (moto)', async () => {
    const store = await createAwsSecretsManagerKeyStore(ctx(), { credentials: motoCredentials });
    return {
      store,
      limit: awsSecretStringLimit,
      calls: () => proxy.calls(),
      createForeign: async (validator, value) => {
        await raw.send(new CreateSecretCommand({ Name: `${prefix}${validator}`, SecretString: Buffer.from(value).toString(), Tags: [{ Key: 'team', Value: 'other' }] }));
      },
      close: () => store.close(),
    };
  });

  it('creates secrets with the ownership tag and the configured KMS key', async () => {
    const store = await createAwsSecretsManagerKeyStore(ctx({ KEYHOLD_AWS_KMS_KEY_ID: 'alias/keyhold-test' }), { credentials: motoCredentials });
    const v = freshValidator('kms');
    await store.put(v, generatedKeyMaterial().material);
    const d = await raw.send(new DescribeSecretCommand({ SecretId: `${prefix}${v}` }));
    expect(d.Tags).toEqual([{ Key: 'keyhold:owner', Value: 'keyhold' }]);
    expect(d.KmsKeyId).toBe('alias/keyhold-test');
    await store.close();
  });

  it('a put that loses the compare-and-swap leaves its value off AWSCURRENT', async () => {
    const store = await createAwsSecretsManagerKeyStore(ctx(), { credentials: motoCredentials });
    const v = freshValidator('cas');
    const first = await store.put(v, generatedKeyMaterial().material);
    // Move AWSCURRENT behind the store's back between its read and its swap:
    // fail the first UpdateSecretVersionStage after another writer has won.
    const other = await createAwsSecretsManagerKeyStore(ctx(), { credentials: motoCredentials });
    proxy.faults.set('UpdateSecretVersionStage', { kind: 'latency', ms: 300 }, { times: 1 });
    const slow = store.put(v, generatedKeyMaterial().material);
    await new Promise((r) => setTimeout(r, 100));
    const winner = generatedKeyMaterial().material;
    const won = await other.put(v, winner);
    await expect(slow).rejects.toMatchObject({ code: 'state_conflict' });
    const got = await store.get(v);
    expect(got!.version).toBe(won.version);
    expect(got!.version).not.toBe(first.version);
    expect(got!.material.publicId).toBe(winner.publicId);
    const d = await raw.send(new DescribeSecretCommand({ SecretId: `${prefix}${v}` }));
    expect(d.VersionIdsToStages?.[won.version]).toContain('AWSCURRENT');
    await Promise.all([store.close(), other.close()]);
  });

  it('misconfiguration is one ConfigError naming the setting', async () => {
    await expect(createAwsSecretsManagerKeyStore(ctx({ KEYHOLD_AWS_REGION: 'moon' }), { credentials: motoCredentials })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('KEYHOLD_AWS_REGION') });
    await expect(createAwsSecretsManagerKeyStore(ctx({ KEYHOLD_AWS_ENDPOINT: 'not a url' }))).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('KEYHOLD_AWS_ENDPOINT') });
    await expect(createAwsSecretsManagerKeyStore(ctx({ KEYHOLD_AWS_SECRET_PREFIX: 'bad prefix!' }))).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('KEYHOLD_AWS_SECRET_PREFIX') });
    const noCredentials = async () => {
      throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    };
    await expect(createAwsSecretsManagerKeyStore(ctx(), { credentials: noCredentials })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('no AWS credentials') });
    // A region that resolves to no endpoint (offline, this is every region: the point is the message).
    const env = { ...ctx().env, KEYHOLD_AWS_REGION: 'xx-nowhere-9' } as Record<string, string | undefined>;
    delete env.KEYHOLD_AWS_ENDPOINT;
    await expect(createAwsSecretsManagerKeyStore({ ...ctx(), env }, { credentials: motoCredentials })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('KEYHOLD_AWS_REGION') });
  });
});
