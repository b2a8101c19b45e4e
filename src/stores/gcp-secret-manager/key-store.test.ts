// The GCP adapter against the project's Secret Manager emulator, built by its
// factory from environment settings as the broker builds it.
import * as grpc from '@grpc/grpc-js';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGcpSecretManagerEmulator } from '../../../test/emulators/gcp-secret-manager/server';
import { generatedKeyMaterial } from '../../../test/support/fixtures';
import { validatorIdPattern, isValidatorId } from '../../core/names';
import { memoryLogger } from '../../log';
import { systemClock } from '../../ports';
import { describeKeyStoreContract, freshValidator } from '../key-store.contract';
import type { StoreContext } from '../registry';
import { crc32c } from './crc32c';
import { createGcpSecretManagerKeyStore } from './factory';
import { GcpSecretManagerKeyStore, gcpPayloadLimit } from './key-store';
import { secretIdOf, validatorOf } from './secret-id';

const project = 'keyhold-test';
const prefix = 'keyhold-validators-';
let emulator: Awaited<ReturnType<typeof startGcpSecretManagerEmulator>>;
let raw: SecretManagerServiceClient;
let calls = 0;

const ctx = (env: Record<string, string> = {}): StoreContext => ({
  env: { KEYHOLD_GCP_PROJECT: project, KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: emulator.address, ...env },
  home: '/nonexistent',
  clock: systemClock,
  logger: memoryLogger(),
});

beforeAll(async () => {
  emulator = await startGcpSecretManagerEmulator();
  // Count every request the emulator receives: each one consults the faults.
  const take = emulator.faults.take.bind(emulator.faults);
  emulator.faults.take = (op) => {
    calls += 1;
    return take(op);
  };
  raw = new SecretManagerServiceClient({ apiEndpoint: '127.0.0.1', port: emulator.port, sslCreds: grpc.credentials.createInsecure(), projectId: project, universeDomain: 'googleapis.com' });
});
afterAll(async () => {
  await raw?.close();
  await emulator?.close();
});

describeKeyStoreContract('gcp-secret-manager (emulator)', async () => {
  const store = await createGcpSecretManagerKeyStore(ctx());
  return {
    store,
    limit: gcpPayloadLimit,
    calls: () => calls,
    createForeign: async (validator, value) => {
      const parent = `projects/${project}`;
      await raw.createSecret({ parent, secretId: secretIdOf(prefix, validator), secret: { replication: { automatic: {} }, labels: { team: 'other' } } });
      await raw.addSecretVersion({ parent: `${parent}/secrets/${secretIdOf(prefix, validator)}`, payload: { data: Buffer.from(value) } });
    },
    close: () => store.close(),
  };
});

describe('secret ids', () => {
  const validatorIds = fc.stringMatching(validatorIdPattern).filter(isValidatorId);

  it('map validator ids injectively onto Secret Manager ids, and back', () => {
    fc.assert(
      fc.property(validatorIds, validatorIds, (a, b) => {
        const ia = secretIdOf(prefix, a);
        expect(ia).toMatch(/^[a-zA-Z0-9_-]{1,255}$/);
        expect(validatorOf(prefix, ia)).toBe(a);
        expect(ia === secretIdOf(prefix, b)).toBe(a === b);
      }),
    );
  });

  it('read no validator from ids outside the prefix or from the probe name', () => {
    expect(validatorOf(prefix, 'other-x')).toBeNull();
    expect(validatorOf(prefix, `${prefix}_keyhold-probe`)).toBeNull();
    expect(secretIdOf(prefix, 'lido.7-a')).toBe(`${prefix}lido_7-a`);
  });
});

describe('gcp-secret-manager specifics', () => {
  it('CRC32C matches the published check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('labels what it creates, sends data_crc32c, and moves the keyhold-current alias', async () => {
    const store = await createGcpSecretManagerKeyStore(ctx());
    const v = freshValidator('gcp');
    await store.put(v, generatedKeyMaterial().material);
    const { version } = await store.put(v, generatedKeyMaterial().material);
    const name = `projects/${project}/secrets/${secretIdOf(prefix, v)}`;
    const [secret] = await raw.getSecret({ name });
    expect(secret.labels).toEqual({ 'keyhold-owner': 'keyhold' });
    expect(String(secret.versionAliases?.['keyhold-current'])).toBe(version);
    const [meta] = await raw.getSecretVersion({ name: `${name}/versions/${version}` });
    expect(meta.clientSpecifiedPayloadChecksum).toBe(true);
    await store.close();
  });

  it('refuses material whose checksum does not match, and material without one', async () => {
    const v = freshValidator('crc');
    const good = new GcpSecretManagerKeyStore({ client: raw, project, prefix, callTimeoutMs: 5000 });
    await good.put(v, generatedKeyMaterial().material);
    for (const damage of [(c: number) => String((c ^ 1) >>> 0), () => undefined]) {
      const tampering = Object.create(raw) as SecretManagerServiceClient;
      tampering.accessSecretVersion = (async (req: object, opts: object) => {
        const [res, ...rest] = await raw.accessSecretVersion(req, opts);
        return [{ ...res, payload: { ...res.payload, dataCrc32c: damage(Number(res.payload?.dataCrc32c)) } }, ...rest];
      }) as typeof raw.accessSecretVersion;
      const store = new GcpSecretManagerKeyStore({ client: tampering, project, prefix, callTimeoutMs: 5000 });
      await expect(store.get(v)).rejects.toMatchObject({ code: 'store_error', message: expect.stringContaining('CRC32C') });
    }
  });

  it('a secret that exists without a current alias (created by Terraform, never imported) reads as null', async () => {
    const v = freshValidator('empty');
    await raw.createSecret({ parent: `projects/${project}`, secretId: secretIdOf(prefix, v), secret: { replication: { automatic: {} }, labels: { 'keyhold-owner': 'keyhold' } } });
    const store = await createGcpSecretManagerKeyStore(ctx());
    expect(await store.get(v)).toBeNull();
    const m = generatedKeyMaterial().material;
    const { version } = await store.put(v, m);
    expect((await store.get(v))?.version).toBe(version);
    await store.close();
  });

  it('misconfiguration is one ConfigError naming the setting', async () => {
    const bad = async (env: Record<string, string>, setting: string) =>
      expect(createGcpSecretManagerKeyStore(ctx(env))).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining(setting) });
    await bad({ KEYHOLD_GCP_PROJECT: 'Not_A_Project' }, 'KEYHOLD_GCP_PROJECT');
    await bad({ KEYHOLD_GCP_SECRET_PREFIX: 'has.dot' }, 'KEYHOLD_GCP_SECRET_PREFIX');
    await bad({ KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: 'http://x' }, 'KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT');
    const env = { ...ctx().env } as Record<string, string | undefined>;
    delete env.KEYHOLD_GCP_PROJECT;
    await expect(createGcpSecretManagerKeyStore({ ...ctx(), env })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('KEYHOLD_GCP_PROJECT') });
  });
});
