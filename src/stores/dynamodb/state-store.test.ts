// DynamoDB on the wire, against a loopback endpoint that records what the
// official client sends (moto checks neither signing times nor read
// consistency): a commit is signed with its send deadline, no retry goes out
// after it, and every read is ConsistentRead.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRecord } from '../../core/designation';
import { CommitDeadlineError } from '../../ports';
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
let endpoint = '';
const server = createServer((req, res) => {
  let text = '';
  req.on('data', (c: Buffer) => (text += c.toString()));
  req.on('end', () => {
    const target = String(req.headers['x-amz-target'] ?? '').replace('DynamoDB_20120810.', '');
    seen.push({ target, headers: req.headers, body: JSON.parse(text || '{}') as Record<string, unknown> });
    res.setHeader('content-type', 'application/x-amz-json-1.0');
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
});
