import { DynamoDBClient, GetItemCommand, PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithMoto, motoCredentials, motoRegion } from '../moto';
import { createStateTable } from '../support/dynamodb-table';
import { startPatchedMoto, type Moto } from '../support/moto-server';
import { benchDir } from './children';

// The fleet bench's moto (moto-fleet.py) must keep what stock moto's
// transactions promise: all or nothing, conditions checked. That it is
// faster on a large table is a speed figure, so it is the bench's seeding
// progress that shows it, not a timed test.
describeWithMoto('moto for the fleet bench: transactions snapshot only what they touch', () => {
  let moto: Moto;
  let db: DynamoDBClient;
  const TableName = 'fleet-moto-test';
  const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'RECORD' } });
  const get = async (pk: string) => (await db.send(new GetItemCommand({ TableName, Key: key(pk), ConsistentRead: true }))).Item;

  beforeAll(async () => {
    moto = await startPatchedMoto(join(benchDir, 'moto-fleet.py'));
    db = new DynamoDBClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
    await db.send(createStateTable(TableName));
  });
  afterAll(async () => {
    db?.destroy();
    await moto?.stop();
  });

  it('a cancelled transaction leaves every item as it was, written or not', async () => {
    await db.send(new PutItemCommand({ TableName, Item: { ...key('A'), version: { N: '1' } } }));
    await db.send(new PutItemCommand({ TableName, Item: { ...key('B'), version: { N: '1' } } }));
    const tx = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName, Item: { ...key('new'), version: { N: '1' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
        { Put: { TableName, Item: { ...key('A'), version: { N: '2' } }, ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': { N: '1' } } } },
        { Update: { TableName, Key: key('B'), UpdateExpression: 'SET version = :n', ExpressionAttributeValues: { ':n': { N: '9' } } } },
        { Put: { TableName, Item: { ...key('B2'), version: { N: '1' } }, ConditionExpression: 'attribute_exists(pk)' } },
      ],
    });
    await expect(db.send(tx)).rejects.toMatchObject({ name: 'TransactionCanceledException' });
    expect(await get('new')).toBeUndefined();
    expect(await get('B2')).toBeUndefined();
    expect((await get('A'))?.['version']).toEqual({ N: '1' });
    expect((await get('B'))?.['version']).toEqual({ N: '1' });
  });

  it('a transaction whose conditions hold writes all its items', async () => {
    await db.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName, Item: { ...key('C'), version: { N: '1' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Update: { TableName, Key: key('A'), UpdateExpression: 'SET version = :n', ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': { N: '1' }, ':n': { N: '2' } } } },
        ],
      }),
    );
    expect((await get('C'))?.['version']).toEqual({ N: '1' });
    expect((await get('A'))?.['version']).toEqual({ N: '2' });
  });

  it('an update outside a transaction still returns the old item (moto copies items, not tables)', async () => {
    const r = await db.send(new UpdateItemCommand({ TableName, Key: key('C'), UpdateExpression: 'SET version = :n', ExpressionAttributeValues: { ':n': { N: '5' } }, ReturnValues: 'ALL_OLD' }));
    expect(r.Attributes?.['version']).toEqual({ N: '1' });
    expect((await get('C'))?.['version']).toEqual({ N: '5' });
  });
});
