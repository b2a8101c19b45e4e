// The state store of a chaos run, behind its fault proxy, and the broker
// settings that point at it. Each store keeps the commit deadline on its own
// side (stores/commit-bounds.ts); the emulators do not, so the proxy does it
// for them, with the shortened bound test mode gives the brokers:
// - dynamodb: AWS refuses a request whose SigV4 date is too old; the proxy
//   refuses one whose X-Amz-Date (the broker signs with its send deadline)
//   is more than the bound behind the proxy's clock.
// - firestore: the service refuses a transaction that is too old; the proxy
//   cuts any bytes held longer than the bound. It cannot see a transaction's
//   age, so runs on Firestore do not pause brokers (a paused broker could
//   send a commit late, which the emulator, unlike Firestore, would take).
// - vault: KV v2 records when a write landed and readers count from that, so
//   a late write is let through: that is the behaviour under test.

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startFirestoreEmulator } from '../firestore-emulator';
import { startVaultEmulator } from '../emulators/vault/server';
import { createStateTable } from '../support/dynamodb-table';
import { motoCredentials, motoRegion, startMoto } from '../support/moto-server';
import { httpProxy, tcpProxy, type ChaosProxy } from './proxy';

export const storeKinds = ['vault', 'dynamodb', 'firestore'] as const;
export type StoreKind = (typeof storeKinds)[number];

export interface ChaosStore {
  readonly kind: StoreKind;
  readonly proxy: ChaosProxy;
  readonly brokerEnv: Readonly<Record<string, string>>;
  /** Whether brokers may be paused on this store (see above). */
  readonly pauseBrokers: boolean;
  close(): Promise<void>;
}

/** X-Amz-Date has whole seconds: a date read back can be up to this much earlier than the signing. */
const amzDateResolutionMs = 1000;

/** The bound a broker must reserve for a store: what the proxy lets through after a request's send deadline. */
export const landingBoundFor = (kind: StoreKind, landingMs: number): number | null => (kind === 'vault' ? null : kind === 'dynamodb' ? landingMs + amzDateResolutionMs : landingMs);

/** X-Amz-Date, 20261201T120000Z, as ms. */
const amzDateMs = (v: string): number | null => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : null;
};

export async function startStore(kind: StoreKind, landingMs: number): Promise<ChaosStore> {
  if (kind === 'vault') {
    const vault = await startVaultEmulator();
    // Bytes, not HTTP: Vault's LIST method is not one Node's HTTP parser accepts.
    const proxy = await tcpProxy({ upstreams: () => [vault.port] });
    return {
      kind,
      proxy,
      pauseBrokers: true,
      brokerEnv: { KEYHOLD_STATE_STORE: 'vault', KEYHOLD_VAULT_ADDR: proxy.url, KEYHOLD_VAULT_TOKEN: vault.token, KEYHOLD_VAULT_STATE_PREFIX: `keyhold/chaos-${randomUUID().slice(0, 8)}/` },
      close: async () => {
        await proxy.close();
        await vault.close();
      },
    };
  }
  if (kind === 'dynamodb') {
    const moto = await startMoto();
    const port = Number(new URL(moto.endpoint).port);
    const table = `keyhold-chaos-${randomUUID().slice(0, 8)}`;
    const admin = new DynamoDBClient({ region: motoRegion, endpoint: moto.endpoint, credentials: motoCredentials });
    await admin.send(createStateTable(table));
    admin.destroy();
    const refuse = (req: { headers: Record<string, string | string[] | undefined> }) => {
      const raw = req.headers['x-amz-date'];
      const signed = typeof raw === 'string' ? amzDateMs(raw) : null;
      return signed !== null && Date.now() > signed + amzDateResolutionMs + landingMs;
    };
    // moto's transactions are not isolated (test/state-stores/backends.ts): one request at a time.
    const proxy = await httpProxy({ upstreams: () => [port], serialise: true, refuse });
    return {
      kind,
      proxy,
      pauseBrokers: true,
      brokerEnv: {
        KEYHOLD_STATE_STORE: 'dynamodb',
        KEYHOLD_DYNAMODB_TABLE: table,
        KEYHOLD_DYNAMODB_ENDPOINT: proxy.url,
        AWS_REGION: motoRegion,
        AWS_ACCESS_KEY_ID: motoCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: motoCredentials.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: 'true',
        KEYHOLD_TEST_COMMIT_LANDING_MS: String(landingBoundFor(kind, landingMs)),
      },
      close: async () => {
        await proxy.close();
        await moto.stop();
      },
    };
  }
  const emulator = await startFirestoreEmulator();
  const port = Number(emulator.host.split(':')[1]);
  const proxy = await tcpProxy({ upstreams: () => [port], refuseLaterThanMs: landingMs });
  const project = `chaos-${randomUUID().slice(0, 8)}`;
  return {
    kind,
    proxy,
    pauseBrokers: false,
    brokerEnv: { KEYHOLD_STATE_STORE: 'firestore', KEYHOLD_FIRESTORE_PROJECT: project, FIRESTORE_EMULATOR_HOST: `127.0.0.1:${proxy.port}`, KEYHOLD_TEST_COMMIT_LANDING_MS: String(landingMs) },
    close: async () => {
      await proxy.close();
      await emulator.clear(project).catch(() => undefined);
      await emulator.stop();
    },
  };
}
