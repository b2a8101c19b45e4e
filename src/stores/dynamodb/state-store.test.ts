// DynamoDB on the wire, against a loopback endpoint that records what the
// official client sends (moto checks neither signing times nor read
// consistency): a commit is signed with its send deadline, no retry goes out
// after it, and every read is ConsistentRead.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRecord } from '../../core/designation';
import { CommitDeadlineError, StoreUnavailableError } from '../../ports';
import { DynamoDbStateStore, dynamoClient } from './state-store';

interface Seen {
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

const seen: Seen[] = [];
/** What TransactWriteItems answers: success, or cancelled on contention (which the store retries). */
let transact: 'ok' | 'contention' = 'ok';
let onTransact: () => void = () => {};
/** Answers a read the test shapes itself (a directory Query, a BatchGetItem); '{}' otherwise. */
let onRead: (target: string, body: Record<string, unknown>) => Promise<unknown> | undefined = () => undefined;
let endpoint = '';
const server = createServer((req, res) => {
  let text = '';
  req.on('data', (c: Buffer) => (text += c.toString()));
  req.on('end', () => {
    const target = String(req.headers['x-amz-target'] ?? '').replace('DynamoDB_20120810.', '');
    seen.push({ target, headers: req.headers, body: JSON.parse(text || '{}') as Record<string, unknown> });
    res.setHeader('content-type', 'application/x-amz-json-1.0');
    const shaped = onRead(target, seen.at(-1)!.body);
    if (shaped) {
      void shaped.then((answer) => res.end(JSON.stringify(answer)));
      return;
    }
    if (target === 'TransactWriteItems') {
      onTransact();
      if (transact === 'contention') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException', message: 'Transaction cancelled', CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }, { Code: 'None' }, { Code: 'None' }] }));
        return;
      }
    }
    res.end('{}');
  });
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  seen.length = 0;
  transact = 'ok';
  onTransact = () => {};
  onRead = () => undefined;
});

const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const open = () => new DynamoDbStateStore({ client: dynamoClient({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }), table: 'keyhold-test' });
const record = createRecord({ id: 'v1', slots: ['eu1/validators/a-0'], serviceAccounts: ['validator'], keyFingerprint: 'fp', keyFormat: 'eip2335', now: t0 });
const entry = { chain: 'v1', time: t0, actor: 'test', action: 'key_imported' as const, validator: 'v1', epoch: 1, slot: null, reason: null, details: {} };

describe('dynamodb state store on the wire', () => {
  it('signs a commit with its send deadline, whenever the SDK happens to run', async () => {
    const store = open();
    const sendBy = t0 + 5_700;
    await store.commit({ record: { next: record, expectedVersion: null }, entries: [entry], deadline: { sendBy, clock: { now: () => t0 } } });
    const tx = seen.filter((s) => s.target === 'TransactWriteItems');
    expect(tx).toHaveLength(1);
    expect(tx[0]!.headers['x-amz-date']).toBe('20261122T120005Z');
    expect(String(tx[0]!.headers.authorization)).toContain('/20261122/eu-west-1/dynamodb/aws4_request');
    // The store's note to its signer never reaches AWS.
    expect(Object.keys(tx[0]!.headers).filter((h) => h.startsWith('x-keyhold'))).toEqual([]);
    // Reads are signed as the SDK does, at the time they are sent.
    const read = seen.find((s) => s.target === 'GetItem')!;
    const now = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);
    expect(String(read.headers['x-amz-date']).slice(0, 11)).toBe(now.slice(0, 11));
    await store.close();
  });

  it('sends no retry of a contended commit after its send deadline', async () => {
    const store = open();
    let t = t0;
    transact = 'contention';
    // The first attempt is answered only after the deadline has passed.
    onTransact = () => {
      t = t0 + 10_000;
    };
    await expect(store.commit({ record: { next: record, expectedVersion: null }, entries: [entry], deadline: { sendBy: t0 + 5_000, clock: { now: () => t } } })).rejects.toBeInstanceOf(CommitDeadlineError);
    expect(seen.filter((s) => s.target === 'TransactWriteItems')).toHaveLength(1);
    await store.close();
  });

  it('reads every item and query with ConsistentRead', async () => {
    const store = open();
    await store.getValidator('v1');
    await store.listValidators();
    await store.readChain('v1', 1, 10);
    await store.chainHeads();
    await store.latestCheckpoint();
    await store.queryLedger({ since: t0, until: t0 + 1000, limit: 10 });
    await store.commit({ entries: [entry] });
    const reads = seen.filter((s) => s.target === 'GetItem' || s.target === 'Query');
    expect(new Set(reads.map((s) => s.target))).toEqual(new Set(['GetItem', 'Query']));
    for (const r of reads) expect(r.body.ConsistentRead).toBe(true);
    await store.close();
  });

  describe('listValidators at fleet size', () => {
    type Key = { pk: { S: string }; sk: { S: string } };
    const ids = Array.from({ length: 1250 }, (_, i) => `v${String(i).padStart(4, '0')}`);
    const recordItem = (id: string) => {
      const r = createRecord({ id, slots: ['eu1/validators/a-0'], serviceAccounts: ['validator'], keyFingerprint: `fp-${id}`, keyFormat: 'eip2335', now: t0 });
      return { pk: { S: `V#${id}` }, sk: { S: 'RECORD' }, version: { N: String(r.version) }, record: { S: JSON.stringify(r) } };
    };
    const keysOf = (body: Record<string, unknown>) => (body.RequestItems as Record<string, { Keys: Key[] }>)['keyhold-test']!.Keys;
    /** The directory of `ids`; each BatchGetItem answered after a moment by `batch`, counting how many are in flight. */
    const fleet = (batch: (keys: Key[], call: number) => { answered: Key[]; unprocessed: Key[] }) => {
      let inFlight = 0;
      let calls = 0;
      const seenMost = { inFlight: 0 };
      onRead = (target, body) => {
        if (target === 'Query' && (body.ExpressionAttributeValues as Record<string, { S: string }>)[':pk']!.S === 'VALIDATORS') {
          return Promise.resolve({ Items: ids.map((id) => ({ pk: { S: 'VALIDATORS' }, sk: { S: id } })), Count: ids.length });
        }
        if (target !== 'BatchGetItem') return undefined;
        inFlight += 1;
        seenMost.inFlight = Math.max(seenMost.inFlight, inFlight);
        const { answered, unprocessed } = batch(keysOf(body), ++calls);
        return new Promise((r) => setTimeout(r, 15)).then(() => {
          inFlight -= 1;
          // Answered in no particular order, as DynamoDB does: here, backwards.
          const Responses = { 'keyhold-test': answered.map((k) => recordItem(k.pk.S.slice(2))).reverse() };
          return unprocessed.length ? { Responses, UnprocessedKeys: { 'keyhold-test': { Keys: unprocessed, ConsistentRead: true } } } : { Responses, UnprocessedKeys: {} };
        });
      };
      return seenMost;
    };

    it('reads the records by BatchGetItem, 100 keys at most, 8 batches at a time, retrying unprocessed keys, in directory order', async () => {
      const store = open();
      // Every first try of a batch leaves its second half unprocessed; a validator in the directory without a record is left out.
      const tried = new Set<string>();
      const most = fleet((keys) => {
        const first = !tried.has(keys[0]!.pk.S);
        for (const k of keys) tried.add(k.pk.S);
        const present = keys.filter((k) => k.pk.S !== 'V#v0137');
        const half = Math.ceil(keys.length / 2);
        return first ? { answered: present.filter((k) => keys.indexOf(k) < half), unprocessed: keys.slice(half) } : { answered: present, unprocessed: [] };
      });
      const listed = await store.listValidators();
      expect(listed.map((r) => r.id)).toEqual(ids.filter((id) => id !== 'v0137'));
      expect(listed[3]!.keyFingerprint).toBe('fp-v0003');
      const batches = seen.filter((s) => s.target === 'BatchGetItem');
      expect(seen.filter((s) => s.target === 'GetItem')).toEqual([]);
      // 13 batches (12 of 100 keys, one of 50), each tried twice.
      expect(batches.map((b) => keysOf(b.body).length).sort((a, b) => a - b)).toEqual([25, ...Array<number>(13).fill(50), ...Array<number>(12).fill(100)]);
      for (const b of batches) expect((b.body.RequestItems as Record<string, { ConsistentRead?: boolean }>)['keyhold-test']!.ConsistentRead).toBe(true);
      expect(most.inFlight).toBeGreaterThan(1);
      expect(most.inFlight).toBeLessThanOrEqual(8);
      await store.close();
    });

    it('a key left unprocessed on every try is an outage, not a shorter list', async () => {
      const store = open();
      fleet((keys) => ({ answered: keys.slice(1), unprocessed: keys.slice(0, 1) }));
      await expect(store.listValidators()).rejects.toBeInstanceOf(StoreUnavailableError);
      // The batch that gave up first was tried 8 times, none more.
      const tries = new Map<string, number>();
      for (const b of seen.filter((s) => s.target === 'BatchGetItem')) tries.set(keysOf(b.body)[0]!.pk.S, (tries.get(keysOf(b.body)[0]!.pk.S) ?? 0) + 1);
      expect(Math.max(...tries.values())).toBe(8);
      await store.close();
    });

    it('getValidators reads the same way: BatchGetItem only, each id once, unprocessed keys retried, an outage rather than fewer records', async () => {
      const store = open();
      const tried = new Set<string>();
      fleet((keys) => {
        const first = !tried.has(keys[0]!.pk.S);
        for (const k of keys) tried.add(k.pk.S);
        return first ? { answered: keys.slice(1), unprocessed: keys.slice(0, 1) } : { answered: keys, unprocessed: [] };
      });
      const asked = [...ids.slice(0, 230), ...ids.slice(0, 10)];
      const got = await store.getValidators(asked);
      expect([...got.keys()].sort()).toEqual(ids.slice(0, 230));
      expect(got.get('v0007')!.keyFingerprint).toBe('fp-v0007');
      const batches = seen.filter((b) => b.target === 'BatchGetItem');
      expect(seen.filter((b) => b.target !== 'BatchGetItem')).toEqual([]);
      expect(batches.flatMap((b) => keysOf(b.body).map((k) => k.pk.S)).filter((k) => k === 'V#v0003')).toHaveLength(1);
      seen.length = 0;
      fleet((keys) => ({ answered: keys.slice(1), unprocessed: keys.slice(0, 1) }));
      await expect(store.getValidators(ids.slice(0, 230))).rejects.toBeInstanceOf(StoreUnavailableError);
      await store.close();
    });
  });
});
