import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithMoto, motoCredentials, motoRegion } from '../moto';
import { createStateTable } from '../support/dynamodb-table';
import { startPatchedMoto, type Moto } from '../support/moto-server';
import { benchDir } from './children';

// The fleet bench's moto (moto-fleet.py) must keep what stock moto's
// transactions promise: all or nothing, conditions checked; and a Query
// that looks at its partition only must answer what DynamoDB does. That it is
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

  it('a query answers its own partition only, in sort-key order either way, by pages, with its key condition', async () => {
    const put = (pk: string, sk: string) => db.send(new PutItemCommand({ TableName, Item: { pk: { S: pk }, sk: { S: sk }, v: { S: `${pk}/${sk}` } } }));
    for (const sk of ['c', 'a', 'e', 'b', 'd']) await put('Q1', sk);
    for (const sk of ['a', 'z']) await put('Q2', sk);
    await put('Q0', 'm');
    const pages = async (input: { forward: boolean; limit: number; from?: string }) => {
      const out: string[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await db.send(
          new QueryCommand({
            TableName,
            KeyConditionExpression: input.from === undefined ? 'pk = :pk' : 'pk = :pk AND sk >= :from',
            ExpressionAttributeValues: { ':pk': { S: 'Q1' }, ...(input.from === undefined ? {} : { ':from': { S: input.from } }) },
            ScanIndexForward: input.forward,
            Limit: input.limit,
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        out.push(...(page.Items ?? []).map((i) => i['v']!.S!));
        start = page.LastEvaluatedKey;
      } while (start);
      return out;
    };
    expect(await pages({ forward: true, limit: 2 })).toEqual(['Q1/a', 'Q1/b', 'Q1/c', 'Q1/d', 'Q1/e']);
    expect(await pages({ forward: false, limit: 3 })).toEqual(['Q1/e', 'Q1/d', 'Q1/c', 'Q1/b', 'Q1/a']);
    expect(await pages({ forward: true, limit: 10, from: 'c' })).toEqual(['Q1/c', 'Q1/d', 'Q1/e']);
    const none = await db.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'Q9' } } }));
    expect(none.Items).toEqual([]);
  });
});
