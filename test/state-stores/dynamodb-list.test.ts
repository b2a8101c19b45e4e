// The validator list at fleet size on moto's DynamoDB, through the official
// client: what listValidators answers is what one getValidator per record
// answers, and the requests it sends are counted by a middleware on that
// client (not estimated): one directory Query and one BatchGetItem per 100
// records, where it used to send a GetItem per record, all at once.

import { randomUUID } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRecord } from '../../src/core/designation';
import { eachBounded } from '../../src/each-bounded';
import { DynamoDbStateStore, dynamoClient } from '../../src/stores/dynamodb/state-store';
import { describeWithMoto, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';
import { createStateTable } from '../support/dynamodb-table';

describeWithMoto('dynamodb listValidators at fleet size (moto)', () => {
  let moto: Moto;
  const sent: string[] = [];
  const client = () => dynamoClient({ region: motoRegion, endpoint: moto.endpoint, credentials: motoCredentials });
  let store: DynamoDbStateStore;
  const ids = Array.from({ length: 230 }, (_, i) => `v-${String(i).padStart(3, '0')}-${randomUUID().slice(0, 4)}`);
  const t0 = Date.UTC(2026, 11, 1);

  beforeAll(async () => {
    moto = await startMoto();
    const table = `keyhold-list-${randomUUID()}`;
    const db = client();
    // Counted where each request is built, so retries and pages count too.
    db.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName).replace(/Command$/, ''));
        return next(args);
      },
      { step: 'build', name: 'countRequests' },
    );
    await db.send(createStateTable(table));
    store = new DynamoDbStateStore({ client: db, table });
    // The items a record's creation writes (its record and its directory entry), put directly: stock moto's transactions are not isolated (backends.ts).
    const admin = client();
    await eachBounded(ids, 4, async (id) => {
      const r = createRecord({ id, slots: [`eu1/validators/${id}-0`], serviceAccounts: ['validator'], keyFingerprint: `fp-${id}`, keyFormat: 'eip2335', now: t0 });
      await admin.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `V#${id}` }, sk: { S: 'RECORD' }, version: { N: String(r.version) }, record: { S: JSON.stringify(r) } } }));
      await admin.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'VALIDATORS' }, sk: { S: id } } }));
    });
    admin.destroy();
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await moto?.stop();
  });

  it('answers every record, as getValidator does, in id order, with one Query and a BatchGetItem per 100 records', async () => {
    sent.length = 0;
    const listed = await store.listValidators();
    expect(sent.filter((c) => c === 'Query')).toHaveLength(1);
    expect(sent.filter((c) => c === 'BatchGetItem')).toHaveLength(3);
    expect(sent).toHaveLength(4);
    const one = await Promise.all([...ids].sort().map((id) => store.getValidator(id)));
    expect(listed).toEqual(one);
    expect(listed).toHaveLength(ids.length);
  });
});
