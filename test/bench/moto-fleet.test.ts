import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithMoto, motoCredentials, motoRegion } from '../moto';
import { createStateTable } from '../support/dynamodb-table';
import { startMoto, startPatchedMoto, type Moto } from '../support/moto-server';
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

describeWithMoto('moto for the fleet bench: answers serialized as stock moto does', () => {
  let patched: Moto;
  let stock: Moto;
  const TableName = 'fleet-moto-serialize';
  const clients: DynamoDBClient[] = [];
  const client = (m: Moto) => {
    const c = new DynamoDBClient({ endpoint: m.endpoint, region: motoRegion, credentials: motoCredentials });
    clients.push(c);
    return c;
  };
  // Every AttributeValue member, alone and nested in maps and lists, and bytes that are not UTF-8.
  const blob = Uint8Array.from([0, 255, 128, 10, 61]);
  const item: Record<string, AttributeValue> = {
    pk: { S: 'P' },
    sk: { S: 'a' },
    s: { S: 'text \u00e9 "quoted"' },
    n: { N: '-12.5' },
    b: { B: blob },
    ss: { SS: ['x', 'y'] },
    ns: { NS: ['1', '2'] },
    bs: { BS: [blob, Uint8Array.from([1])] },
    nul: { NULL: true },
    t: { BOOL: true },
    f: { BOOL: false },
    m: { M: { inner: { L: [{ S: 'deep' }, { M: { b: { B: blob }, n: { N: '0' } } }, { NULL: true }] }, e: { M: {} } } },
    l: { L: [{ N: '1' }, { BOOL: false }, { SS: ['z'] }, { L: [] }] },
  };
  const answers = async (db: DynamoDBClient) => {
    await db.send(createStateTable(TableName));
    await db.send(new PutItemCommand({ TableName, Item: item }));
    await db.send(new PutItemCommand({ TableName, Item: { pk: { S: 'P' }, sk: { S: 'b' }, v: { S: 'second' } } }));
    const got = await db.send(new GetItemCommand({ TableName, Key: { pk: { S: 'P' }, sk: { S: 'a' } }, ConsistentRead: true }));
    const queried = await db.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'P' } }, ConsistentRead: true }));
    const updated = await db.send(new UpdateItemCommand({ TableName, Key: { pk: { S: 'P' }, sk: { S: 'b' } }, UpdateExpression: 'SET v = :v', ExpressionAttributeValues: { ':v': { M: { k: { BS: [blob] } } } }, ReturnValues: 'ALL_NEW' }));
    return { got: got.Item, items: queried.Items, count: queried.Count, updated: updated.Attributes };
  };

  beforeAll(async () => {
    [patched, stock] = await Promise.all([startPatchedMoto(join(benchDir, 'moto-fleet.py')), startMoto()]);
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await Promise.all([patched?.stop(), stock?.stop()]);
  });

  it('GetItem, Query and UpdateItem answer the same items, every attribute type included', async () => {
    const [mine, theirs] = await Promise.all([answers(client(patched)), answers(client(stock))]);
    expect(theirs.got).toEqual(item);
    expect(mine).toEqual(theirs);
  });
});
