// Each cloud state store on its emulator, as a contract-suite backend: a
// fresh namespace per call (a new DynamoDB table, a new Firestore project
// id, a new Vault prefix), and as many store instances on it as a test wants.

import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, PutItemCommand, QueryCommand, type CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { FieldPath } from '@google-cloud/firestore';
import type { StateStore } from '../../src/ports';
import { DynamoDbStateStore, dynamoClient, type DynamoSender } from '../../src/stores/dynamodb/state-store';
import { FirestoreStateStore, firestoreClient, type FirestoreStateStoreOptions } from '../../src/stores/firestore/state-store';
import type { StateStoreBackend } from '../../src/stores/state-store.contract';
import { padSeq } from '../../src/stores/ledger-codec';
import { nodeVaultKv } from '../../src/stores/vault-kv-state/kv-client';
import { VaultKvStateStore, type VaultStateStoreOptions } from '../../src/stores/vault-kv-state/state-store';
import { motoCredentials, motoRegion } from '../moto';
import { createStateTable } from '../support/dynamodb-table';
import { testTiming } from '../support/fixtures';

export function requireTool(available: boolean, tool: string): string | undefined {
  if (available) return undefined;
  if (process.env.CI) throw new Error(`${tool} is required in CI (it comes with the machine image, see /work/shared/WIRE.md)`);
  return `${tool} not installed`;
}

/**
 * moto's TransactWriteItems is not isolated: it deep-copies the table and
 * restores that copy when a transaction is cancelled, while its threaded
 * server runs other requests (moto/dynamodb/models/__init__.py,
 * transact_write_items). Concurrent requests can then 500, or a cancelled
 * transaction can undo another one's committed writes. DynamoDB's own
 * transactions are serializable, so requests go to moto one at a time: brokers
 * still interleave between calls (read a head, lose it, retry), which is the
 * race under test.
 */
let motoQueue: Promise<unknown> = Promise.resolve();
export function serialised(sender: DynamoSender): DynamoSender {
  return {
    send(command) {
      const run = motoQueue.then(() => sender.send(command));
      motoQueue = run.catch(() => undefined);
      return run;
    },
    destroy: () => sender.destroy?.(),
  };
}

/** What a client meets when the server is gone: a refused connection, with no HTTP status. */
const refused = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));

/** The wire to moto cut once `requests` requests have been sent: later ones fail as a refused connection does. */
function cutAfter(requests: number, sender: DynamoSender): DynamoSender {
  let sent = 0;
  return {
    send(command, options) {
      if (++sent > requests) return refused();
      return sender.send(command, options);
    },
    destroy: () => sender.destroy?.(),
  };
}

export interface DynamoBackend extends StateStoreBackend {
  readonly table: string;
  /** A store whose client is wrapped, e.g. to cut the wire at a chosen call. */
  openWith(wrap: (sender: DynamoSender) => DynamoSender): Promise<StateStore>;
}

export async function dynamoBackend(endpoint: string): Promise<DynamoBackend> {
  const table = `keyhold-${randomUUID()}`;
  const client = () => serialised(dynamoClient({ region: motoRegion, endpoint, credentials: motoCredentials }));
  const admin = client();
  await (admin as unknown as { send(c: CreateTableCommand): Promise<unknown> }).send(
    createStateTable(table),
  );
  return {
    table,
    open: async () => new DynamoDbStateStore({ client: client(), table }),
    openWith: async (wrap) => new DynamoDbStateStore({ client: wrap(client()), table }),
    cutAfter: async (requests) => new DynamoDbStateStore({ client: cutAfter(requests, client()), table }),
    async corruptRecord(id) {
      await admin.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `V#${id}` }, sk: { S: 'RECORD' }, version: { N: '1' }, record: { S: '{"id":"v1","version":"x"}' } } }));
    },
    async dropCheckpointPart(seq) {
      const parts = await admin.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `CP#${padSeq(seq)}` } }, ConsistentRead: true }));
      const last = (parts as { Items?: { sk?: { S?: string } }[] }).Items?.at(-1)?.sk?.S;
      if (last === undefined) throw new Error(`checkpoint ${seq} has no parts`);
      await (admin as unknown as { send(c: DeleteItemCommand): Promise<unknown> }).send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: `CP#${padSeq(seq)}` }, sk: { S: last } } }));
    },
    // Tables are left to die with moto (it keeps everything in memory).
    dispose: async () => admin.destroy?.(),
  };
}

export async function firestoreBackend(emulatorHost: string): Promise<StateStoreBackend & { readonly projectId: string; openWith(o: Partial<FirestoreStateStoreOptions>): Promise<StateStore> }> {
  // A project per backend: the emulator keeps projects apart, so tests never see each other's data.
  const projectId = `keyhold-${randomUUID().slice(0, 8)}`;
  const db = () => firestoreClient({ projectId, databaseId: '(default)', emulatorHost });
  const openWith = async (o: Partial<FirestoreStateStoreOptions>) => new FirestoreStateStore({ db: db(), ...o });
  return {
    projectId,
    open: () => openWith({}),
    openWith,
    // The client's own getAll until `requests` calls, then what gRPC answers when the server is gone (14 UNAVAILABLE).
    // Closing waits for the calls already sent: terminating under one makes it fail outside the test.
    async cutAfter(requests) {
      const client = db();
      let sent = 0;
      const inFlight: Promise<unknown>[] = [];
      const cut = new Proxy(client, {
        get(t, prop, receiver) {
          const v = Reflect.get(t, prop, receiver) as unknown;
          if (typeof v !== 'function') return v;
          if (prop === 'terminate') return () => Promise.allSettled(inFlight).then(() => t.terminate());
          if (prop !== 'getAll') return (v as (...a: unknown[]) => unknown).bind(t);
          return (...refs: unknown[]) => {
            if (++sent > requests) return Promise.reject(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }));
            const call = (v as (...a: unknown[]) => Promise<unknown>).apply(t, refs);
            inFlight.push(call);
            return call;
          };
        },
      });
      return new FirestoreStateStore({ db: cut });
    },
    async corruptRecord(id) {
      const admin = db();
      await admin.collection('keyhold_validators').doc(id).set({ version: 1, record: '{"id":"v1","version":"x"}' });
      await admin.terminate();
    },
    async dropCheckpointPart(seq) {
      const admin = db();
      const parts = await admin.collection('keyhold_checkpoint_parts').where(FieldPath.documentId(), '>=', `${padSeq(seq)}-`).where(FieldPath.documentId(), '<', `${padSeq(seq)}.`).get();
      const last = parts.docs.at(-1);
      if (!last) throw new Error(`checkpoint ${seq} has no parts`);
      await last.ref.delete();
      await admin.terminate();
    },
    dispose: async () => {
      await fetch(`http://${emulatorHost}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' }).catch(() => undefined);
    },
  };
}

export async function vaultBackend(vault: { address: string; token: string }, opts: { intentGraceMs?: number } = {}): Promise<StateStoreBackend & { readonly prefix: string; openWith(o: Partial<VaultStateStoreOptions>): Promise<VaultKvStateStore> }> {
  const prefix = `keyhold/state-${randomUUID().slice(0, 8)}/`;
  const nodeVault = (await import('node-vault')).default;
  const kv = (requests = Infinity) => {
    const client = nodeVault({ apiVersion: 'v1', endpoint: vault.address, token: vault.token });
    let sent = 0;
    // Past `requests` reads, node-vault's client fails as it does with no server to reach (no HTTP status).
    const read = client.read.bind(client);
    client.read = (...a: Parameters<typeof read>) => (++sent > requests ? refused() : read(...a));
    return nodeVaultKv({ client, mount: 'secret', prefix, timeoutMs: 5000 });
  };
  const openWith = async (o: Partial<VaultStateStoreOptions>) => new VaultKvStateStore({ kv: kv(), intentGraceMs: opts.intentGraceMs ?? 300, timing: testTiming, ...o });
  return {
    prefix,
    open: () => openWith({}),
    openWith,
    cutAfter: (requests) => openWith({ kv: kv(requests) }),
    async corruptRecord(id) {
      const k = kv();
      const cur = await k.read(`validators/${id}`);
      await k.write(`validators/${id}`, { record: '{"id":"v1","version":"x"}', intent: null }, cur?.version ?? 0);
    },
    dispose: async () => undefined,
  };
}
