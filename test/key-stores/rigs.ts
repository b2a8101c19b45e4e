// Each cloud key store built by its own factory, as the broker builds it,
// against its emulator (moto behind the fault proxy for AWS), with one
// FaultController per store and request counts per operation. Shared by the
// fault tests and the broker flow tests.
import * as grpc from '@grpc/grpc-js';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { memoryLogger } from '../../src/log';
import type { Clock, KeyStore } from '../../src/ports';
import { createAwsSecretsManagerKeyStore } from '../../src/stores/aws-secrets-manager/factory';
import { createGcpSecretManagerKeyStore } from '../../src/stores/gcp-secret-manager/factory';
import { secretIdOf } from '../../src/stores/gcp-secret-manager/secret-id';
import type { StoreContext } from '../../src/stores/registry';
import type { Guarded, ResilienceOptions } from '../../src/stores/resilience';
import { createVaultKvKeyStore } from '../../src/stores/vault-kv/factory';
import { startFaultProxy } from '../emulators/fault-proxy';
import type { FaultController } from '../emulators/faults';
import { eventually } from '../emulators/gcp-secret-manager/harness';
import { startGcpSecretManagerEmulator } from '../emulators/gcp-secret-manager/server';
import { startVaultEmulator } from '../emulators/vault/server';
import { motoCredentials, motoRegion, startMoto } from '../moto';

export interface StoreRig {
  readonly name: string;
  readonly faults: FaultController;
  /** The service's name for the first call `get` makes (the fault key). */
  readonly readOp: string;
  /** Requests received for `op` ('*': all). */
  calls(op?: string): number;
  /** A store built by the factory; each call builds a fresh one (own client, own breaker). */
  makeStore(resilience?: ResilienceOptions): Promise<Guarded<KeyStore>>;
  /** Write a value without keyhold's marker, with the raw client. */
  createForeign(validator: string, value: string): Promise<void>;
  close(): Promise<void>;
}

function counting(faults: FaultController): (op?: string) => number {
  const counts = new Map<string, number>();
  const take = faults.take.bind(faults);
  faults.take = (op) => {
    counts.set(op, (counts.get(op) ?? 0) + 1);
    counts.set('*', (counts.get('*') ?? 0) + 1);
    return take(op);
  };
  return (op = '*') => counts.get(op) ?? 0;
}

const context = (env: Record<string, string>, clock: Clock): StoreContext => ({ env, home: '/nonexistent', clock, logger: memoryLogger() });

export async function awsRig(clock: Clock): Promise<StoreRig> {
  const moto = await startMoto();
  const proxy = await startFaultProxy(moto.endpoint);
  const raw = new SecretsManagerClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
  const prefix = `keyhold-${Date.now().toString(36)}/`;
  const env = { KEYHOLD_AWS_ENDPOINT: proxy.address, KEYHOLD_AWS_REGION: motoRegion, KEYHOLD_AWS_SECRET_PREFIX: prefix };
  return {
    name: 'aws-secrets-manager',
    faults: proxy.faults,
    readOp: 'DescribeSecret',
    calls: (op) => proxy.calls(op),
    makeStore: (resilience) => createAwsSecretsManagerKeyStore(context(env, clock), { credentials: motoCredentials, ...(resilience ? { resilience } : {}) }),
    createForeign: async (v, value) => {
      await raw.send(new CreateSecretCommand({ Name: `${prefix}${v}`, SecretString: value }));
    },
    close: async () => {
      raw.destroy();
      await proxy.close();
      await moto.stop();
    },
  };
}

export async function gcpRig(clock: Clock): Promise<StoreRig> {
  const emulator = await startGcpSecretManagerEmulator();
  const calls = counting(emulator.faults);
  const project = 'keyhold-test';
  const raw = new SecretManagerServiceClient({ apiEndpoint: '127.0.0.1', port: emulator.port, sslCreds: grpc.credentials.createInsecure(), projectId: project, universeDomain: 'googleapis.com' });
  const env = { KEYHOLD_GCP_PROJECT: project, KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: emulator.address };
  return {
    name: 'gcp-secret-manager',
    faults: emulator.faults,
    readOp: 'GetSecret',
    calls,
    makeStore: (resilience) => createGcpSecretManagerKeyStore(context(env, clock), resilience ? { resilience } : {}),
    createForeign: async (v, value) => {
      const id = secretIdOf('keyhold-validators-', v);
      // After a 'down' fault the raw client's channel may still be in its reconnect backoff.
      await eventually(() => raw.getSecret({ name: `projects/${project}/secrets/${id}` }).catch((e: { code?: number }) => {
        if (e.code !== 5) throw e;
      }));
      await raw.createSecret({ parent: `projects/${project}`, secretId: id, secret: { replication: { automatic: {} } } });
      await raw.addSecretVersion({ parent: `projects/${project}/secrets/${id}`, payload: { data: Buffer.from(value) } });
    },
    close: async () => {
      await raw.close();
      await emulator.close();
    },
  };
}

export async function vaultRig(clock: Clock): Promise<StoreRig> {
  const vault = await startVaultEmulator({ now: () => clock.now() });
  const calls = counting(vault.faults);
  const raw = (await import('node-vault')).default({ apiVersion: 'v1', endpoint: vault.address, token: vault.token });
  const env = { KEYHOLD_VAULT_ADDR: vault.address, KEYHOLD_VAULT_TOKEN: vault.token };
  return {
    name: 'vault',
    faults: vault.faults,
    readOp: 'GET data',
    calls,
    makeStore: (resilience) => createVaultKvKeyStore(context(env, clock), { renewCheckMs: 0, ...(resilience ? { resilience } : {}) }),
    createForeign: async (v, value) => {
      await raw.write(`secret/data/keyhold/validators/${v}`, { data: { material: value } });
    },
    close: async () => {
      vault.faults.clear();
      await vault.listening();
      await vault.close();
    },
  };
}
