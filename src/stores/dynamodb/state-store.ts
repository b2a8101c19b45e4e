// DynamoDB state + ledger store. Every decision is ONE TransactWriteItems
// whose condition expressions check the record's version and each chain
// head's seq, so a decision and its ledger entries commit together or not at
// all ("TransactWriteItems is a synchronous write operation that groups up to
// 100 action requests ... either all of them succeed, or all of them are
// rejected", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
//
// One table, hash key `pk` (S), range key `sk` (S), no secondary index
// (infra/terraform/aws/dynamodb.tf). Layout (also in README.md here):
//
//   pk                 sk                              attributes
//   V#<validator>      RECORD                          version N, record S (JSON)
//   VALIDATORS         <validator>                     (directory, written when the record is created)
//   K#<key>            OWNER                           validator S: the key index, one validator id per key, for ever
//   HEADS              <chain>                         seq N, hash S, firstTime N, lastTime N
//   C#<chain>          E#<seq, 12 digits>              entry S (JSON), time N
//   T#<yyyy-mm-dd>     <time 15 d>#<chain>#<seq 12 d>  entry S, chain, validator, slot, action, time
//   CHECKPOINTS        <checkpoint seq 12 d>            body S (JSON), or parts N + part B (its first bytes); put only if absent, so the chain never forks
//   CP#<seq 12 d>      <part 4 d>                      part B: the rest of a checkpoint past one item, written in one transaction with it
//   U#<token id>       USED                            expiresAt N (ms), attempt S, ttl N (s, the table's TTL attribute)
//
// - A chain's head lives in the HEADS partition, one item per chain: the
//   append condition is on that item only, so validators never contend,
//   while chainHeads() and every checkpoint are one Query.
// - Each entry is written twice in the same transaction: under its chain (seq
//   order, for readChain and verify) and under its UTC day (time order, for
//   audit queries). The day key sorts exactly as SQLite's (time, chain, seq),
//   so no GSI is needed. Day partitions hold a day of decisions, far below
//   a partition's 1,000 writes/s.
// - Every read is ConsistentRead: a renewal decides from the record it reads
//   without writing, so an eventually consistent read could renew a holder
//   that was already fenced.

import {
  BatchGetItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type QueryCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { ValidatorRecord } from '../../core/designation';
import { eachBatch } from '../../each-bounded';
import { sealAll, type ChainHead, type LedgerEntry } from '../../core/ledger';
import {
  KeyInUseError,
  StateConflictError,
  StoreError,
  StoreUnavailableError,
  checkSendable,
  checkTokenId,
  systemClock,
  type Clock,
  type Commit,
  type Health,
  type LedgerPage,
  type LedgerQuery,
  type StateStore,
  type StoredCheckpoint,
} from '../../ports';
import { checkChainName, decodeCheckpoint, encodeCheckpoint, encodeEntry, matchesQuery, orderKey, padSeq, padTime, parseEntry, partsOf } from '../ledger-codec';
import { decodeCursor, encodeCursor } from '../ledger-cursor';
import { parseRecord } from '../record-codec';
import { DeadlineSigner, signWith } from './deadline-signer';

type Item = Record<string, AttributeValue>;

/** The part of the client this store uses: a seam for tests that cut the wire at a chosen call. */
export interface DynamoSender {
  send(command: BatchGetItemCommand | GetItemCommand | PutItemCommand | QueryCommand | TransactWriteItemsCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  destroy?(): void;
}

export interface DynamoStateStoreOptions {
  readonly client: DynamoSender;
  readonly table: string;
  readonly clock?: Clock;
  /** Attempts at an append that keeps losing a chain head to other brokers (the decision itself does not change). */
  readonly appendAttempts?: number;
}

const day = 86_400_000;
const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const dayOf = (t: number): string => new Date(t).toISOString().slice(0, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const padPart = (i: number): string => String(i).padStart(4, '0');
/**
 * A checkpoint part's bytes: an item holds at most 400 KB, names and values
 * together (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
 */
const checkpointPartBytes = 300 * 1024;
/** TransactWriteItems takes at most 100 actions and 4 MB in all: 12 parts, a checkpoint of about 45,000 chain heads. */
const maxCheckpointParts = 12;
/**
 * BatchGetItem takes at most 100 keys and may answer only some of them,
 * returning the rest as UnprocessedKeys, which "you should retry ... we
 * strongly recommend that you use an exponential backoff algorithm"
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
 */
const batchGetKeys = 100;
/**
 * Batches in flight at once: 10,000 records are 100 batches, 8 at a time,
 * not 10,000 GetItems at once on the client's 50 sockets; 45,000 (what a
 * checkpoint can name) are 57 rounds, about 1 s at 20 ms a batch, inside the
 * store's 2 s timeout for the whole list.
 */
const batchGetWidth = 8;
/** Tries of one batch while DynamoDB leaves keys unprocessed (jittered backoff under 25 ms doubling to 400 ms: at most 1.6 s in all). */
const batchGetAttempts = 8;

export class DynamoDbStateStore implements StateStore {
  readonly name = 'dynamodb';
  private readonly client: DynamoSender;
  private readonly table: string;
  private readonly clock: Clock;
  private readonly appendAttempts: number;

  constructor(opts: DynamoStateStoreOptions) {
    this.client = opts.client;
    this.table = opts.table;
    this.clock = opts.clock ?? systemClock;
    this.appendAttempts = opts.appendAttempts ?? 40;
  }

  async getValidator(id: string): Promise<ValidatorRecord | null> {
    const item = await this.get(`V#${id}`, 'RECORD');
    return item ? this.record(item) : null;
  }

  /** The directory's ids in its order, each record read by BatchGetItem (which answers in no order of its own). */
  async listValidators(): Promise<ValidatorRecord[]> {
    const ids = (await this.queryAll({ pk: 'VALIDATORS' })).map((i) => this.str(i, 'sk'));
    const records = await this.getValidators(ids);
    return ids.flatMap((id) => {
      const r = records.get(id);
      return r ? [r] : [];
    });
  }

  /** The records of `ids` by BatchGetItem, 100 keys a request, `batchGetWidth` requests at once; any batch that fails fails the whole read. */
  async getValidators(ids: readonly string[]): Promise<Map<string, ValidatorRecord>> {
    const out = new Map<string, ValidatorRecord>();
    await eachBatch(ids, batchGetKeys, batchGetWidth, async (batch) => {
      for (const item of await this.getBatch(batch.map((id) => ({ pk: S(`V#${id}`), sk: S('RECORD') })))) {
        const r = this.record(item);
        if (`V#${r.id}` !== this.str(item, 'pk')) throw new StoreError(this.name, 'a stored validator record names another validator');
        out.set(r.id, r);
      }
    });
    return out;
  }

  /** The items of up to 100 keys (absent ones are not answered), unprocessed keys tried again with backoff. */
  private async getBatch(keys: Item[]): Promise<Item[]> {
    const out: Item[] = [];
    let pending = keys;
    for (let attempt = 1; ; attempt++) {
      const answer = (await this.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } } }))) as {
        Responses?: Record<string, Item[]>;
        UnprocessedKeys?: Record<string, { Keys?: Item[] }>;
      };
      out.push(...(answer.Responses?.[this.table] ?? []));
      pending = answer.UnprocessedKeys?.[this.table]?.Keys ?? [];
      if (pending.length === 0) return out;
      if (attempt >= batchGetAttempts) throw new StoreUnavailableError(this.name, 'batch read left keys unprocessed');
      await sleep(Math.random() * Math.min(400, 25 * 2 ** (attempt - 1)));
    }
  }

  async keyOwner(key: string): Promise<string | null> {
    const item = await this.get(`K#${key}`, 'OWNER');
    return item ? this.str(item, 'validator') : null;
  }

  async commit(commit: Commit): Promise<LedgerEntry[]> {
    for (const d of commit.entries) checkChainName(d.chain);
    const chains = [...new Set(commit.entries.map((d) => d.chain))];
    for (let attempt = 1; ; attempt++) {
      // No attempt, first or retried, starts after the send deadline.
      checkSendable(this.name, commit);
      const heads = new Map<string, (ChainHead & { firstTime: number; lastTime: number }) | null>(
        await Promise.all(chains.map(async (c) => [c, await this.head(c)] as const)),
      );
      const sealed = sealAll(commit.entries, heads);
      const items: TransactWriteItem[] = [];
      const change = commit.record;
      if (change) {
        const { next, expectedVersion } = change;
        items.push({
          Put: {
            TableName: this.table,
            Item: { pk: S(`V#${next.id}`), sk: S('RECORD'), version: N(next.version), record: S(JSON.stringify(next)) },
            ...(expectedVersion === null
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#v = :expected', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':expected': N(expectedVersion) } }),
          },
        });
        if (expectedVersion === null) {
          items.push({ Put: { TableName: this.table, Item: { pk: S('VALIDATORS'), sk: S(next.id) }, ConditionExpression: 'attribute_not_exists(pk)' } });
        }
      }
      // The key index item: created by the first claim, rewritten unchanged by its owner's, refused to anyone else's.
      const keyItemAt = change && commit.claimKey !== undefined ? items.length : -1;
      if (change && commit.claimKey !== undefined) {
        items.push({
          Put: {
            TableName: this.table,
            Item: { pk: S(`K#${commit.claimKey}`), sk: S('OWNER'), validator: S(change.next.id) },
            ConditionExpression: 'attribute_not_exists(pk) OR #o = :owner',
            ExpressionAttributeNames: { '#o': 'validator' },
            ExpressionAttributeValues: { ':owner': S(change.next.id) },
          },
        });
      }
      const headItemAt = items.length;
      for (const chain of chains) {
        const before = heads.get(chain) ?? null;
        const mine = sealed.filter((e) => e.chain === chain);
        const last = mine.at(-1)!;
        items.push({
          Put: {
            TableName: this.table,
            Item: {
              pk: S('HEADS'),
              sk: S(chain),
              seq: N(last.seq),
              hash: S(last.hash),
              firstTime: N(before?.firstTime ?? Math.min(...mine.map((e) => e.time))),
              lastTime: N(Math.max(before?.lastTime ?? 0, ...mine.map((e) => e.time))),
            },
            // The fork guard: this append continues exactly the head it sealed onto.
            ...(before === null
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#s = :seq', ExpressionAttributeNames: { '#s': 'seq' }, ExpressionAttributeValues: { ':seq': N(before.seq) } }),
          },
        });
      }
      for (const e of sealed) {
        const json = encodeEntry(e);
        items.push({
          Put: {
            TableName: this.table,
            Item: { pk: S(`C#${e.chain}`), sk: S(`E#${padSeq(e.seq)}`), entry: S(json), time: N(e.time) },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
        items.push({
          Put: {
            TableName: this.table,
            Item: {
              pk: S(`T#${dayOf(e.time)}`),
              sk: S(orderKey(e)),
              entry: S(json),
              chain: S(e.chain),
              time: N(e.time),
              action: S(e.action),
              ...(e.validator === null ? {} : { validator: S(e.validator) }),
              ...(e.slot === null ? {} : { slot: S(e.slot) }),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
      }
      if (items.length === 0) return [];
      try {
        checkSendable(this.name, commit);
        // Signed with the send deadline: AWS refuses it five minutes after that, however late it is sent (deadline-signer.ts).
        const command = new TransactWriteItemsCommand({ TransactItems: items });
        await this.client.send(commit.deadline ? signWith(command, commit.deadline.sendBy) : command, commit.signal ? { abortSignal: commit.signal } : undefined);
        return sealed;
      } catch (e) {
        const reasons = (e as { name?: string; CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        if ((e as { name?: string }).name !== 'TransactionCanceledException') throw this.fault(e);
        // CancellationReasons come in the order of TransactItems
        // (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html#API_TransactWriteItems_Errors).
        const codes = (reasons ?? []).map((r) => r.Code ?? 'None');
        const recordItems = keyItemAt >= 0 ? keyItemAt : headItemAt;
        if (change && codes.slice(0, recordItems).includes('ConditionalCheckFailed')) throw new StateConflictError(this.name, change.next.id);
        if (change && keyItemAt >= 0 && codes[keyItemAt] === 'ConditionalCheckFailed') throw await this.keyInUse(commit.claimKey!, e);
        const retryable = codes.length > 0 && codes.every((c) => c === 'None' || c === 'ConditionalCheckFailed' || c === 'TransactionConflict');
        if (!retryable) throw new StoreUnavailableError(this.name, `transaction cancelled (${codes.join(',') || 'no reason'})`, { cause: e });
        // Another broker appended to one of these chains first (or was mid-transaction
        // on an item here): re-read the heads and seal again. The decision stands.
        if (attempt >= this.appendAttempts) throw new StoreUnavailableError(this.name, 'chain append contention', { cause: e });
        await sleep(Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  private async keyInUse(key: string, cause: unknown): Promise<StoreError> {
    const owner = await this.keyOwner(key);
    return owner === null ? new StoreUnavailableError(this.name, 'key index changed during the commit', { cause }) : new KeyInUseError(this.name, key, owner);
  }

  private async head(chain: string): Promise<(ChainHead & { firstTime: number; lastTime: number }) | null> {
    const item = await this.get('HEADS', chain);
    return item ? this.headOf(item) : null;
  }

  private headOf(item: Item): ChainHead & { firstTime: number; lastTime: number } {
    return { chain: this.str(item, 'sk'), seq: this.num(item, 'seq'), hash: this.str(item, 'hash'), firstTime: this.num(item, 'firstTime'), lastTime: this.num(item, 'lastTime') };
  }

  async queryLedger(q: LedgerQuery): Promise<LedgerPage> {
    const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
    let from = q.since;
    let to = q.until === undefined ? undefined : q.until - 1;
    if (from === undefined || to === undefined) {
      const heads = await this.allHeads();
      if (heads.length === 0) return { entries: [], cursor: null };
      // Entries on a chain can predate its first entry or follow its last by
      // the brokers' clock skew, far under the day of margin taken here.
      from ??= Math.max(0, Math.min(...heads.map((h) => h.firstTime)) - day);
      to ??= Math.max(this.clock.now(), ...heads.map((h) => h.lastTime)) + day;
    }
    if (cursor) from = Math.max(from, cursor.time);
    const want = q.limit + 1;
    const out: LedgerEntry[] = [];
    for (let t = Date.parse(`${dayOf(from)}T00:00:00Z`); t <= to && out.length < want; t += day) {
      // Attribute names go through placeholders: TIME and others are DynamoDB reserved words.
      const names: Record<string, string> = {};
      const values: Item = {};
      let key = 'pk = :pk';
      values[':pk'] = S(`T#${dayOf(t)}`);
      // The lower bound on the sort key: after the cursor, or from `since`.
      if (cursor && (q.since === undefined || cursor.time >= q.since)) {
        key += ' AND sk > :lo';
        values[':lo'] = S(orderKey(cursor));
      } else if (q.since !== undefined) {
        key += ' AND sk >= :lo';
        values[':lo'] = S(padTime(q.since));
      }
      const filters: string[] = [];
      if (q.until !== undefined) {
        filters.push('#t < :until');
        names['#t'] = 'time';
        values[':until'] = N(q.until);
      }
      for (const f of ['validator', 'chain', 'slot', 'action'] as const) {
        const v = q[f];
        if (v === undefined) continue;
        filters.push(`#${f} = :${f}`);
        names[`#${f}`] = f;
        values[`:${f}`] = S(v);
      }
      let start: Item | undefined;
      do {
        const page = (await this.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: key,
            ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
            ...(filters.length ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: values,
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        )) as { Items?: Item[]; LastEvaluatedKey?: Item };
        for (const item of page.Items ?? []) {
          const e = parseEntry(this.name, this.str(item, 'entry'));
          // The filter ran on copies of the fields; the entry itself decides.
          if (matchesQuery(e, q)) out.push(e);
        }
        start = page.LastEvaluatedKey;
      } while (start && out.length < want);
    }
    const entries = out.slice(0, q.limit);
    const last = entries.at(-1);
    return { entries, cursor: out.length > q.limit && last ? encodeCursor(last) : null };
  }

  async readChain(chain: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    checkChainName(chain);
    return this.range(`C#${chain}`, `E#${padSeq(Math.max(1, fromSeq))}`, limit, (item) => parseEntry(this.name, this.str(item, 'entry')));
  }

  /** Up to `limit` items of one partition from sort key `from` on, in order, decoded. */
  private async range<T>(pk: string, from: string, limit: number, decode: (item: Item) => T): Promise<T[]> {
    if (limit <= 0) return [];
    const out: T[] = [];
    let start: Item | undefined;
    do {
      const page = (await this.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk >= :from',
          ExpressionAttributeValues: { ':pk': S(pk), ':from': S(from) },
          ConsistentRead: true,
          Limit: limit - out.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      )) as { Items?: Item[]; LastEvaluatedKey?: Item };
      for (const item of page.Items ?? []) out.push(decode(item));
      start = page.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  async chainHeads(): Promise<ChainHead[]> {
    return (await this.allHeads()).map(({ chain, seq, hash }) => ({ chain, seq, hash }));
  }

  private async allHeads() {
    // Sort keys come back in byte order, the same as SQLite's ORDER BY chain.
    return (await this.queryAll({ pk: 'HEADS' })).map((i) => this.headOf(i));
  }

  /**
   * Put only if absent, so the chain never forks. A body past one item (a
   * keyframe, every 60th checkpoint, names every chain head: about 1 MB at
   * 10,000 validators, and
   * an item holds 400 KB) is split across parts written in one transaction
   * with the checkpoint's own item, so a reader sees all of it or none.
   */
  async putCheckpoint(c: StoredCheckpoint): Promise<boolean> {
    const body = Buffer.from(encodeCheckpoint(c), 'utf8');
    const seq = padSeq(c.seq);
    if (body.length <= checkpointPartBytes) {
      try {
        await this.client.send(new PutItemCommand({ TableName: this.table, Item: { pk: S('CHECKPOINTS'), sk: S(seq), body: S(body.toString('utf8')) }, ConditionExpression: 'attribute_not_exists(pk)' }));
        return true;
      } catch (e) {
        if ((e as { name?: string }).name === 'ConditionalCheckFailedException') return false;
        throw this.fault(e);
      }
    }
    const parts = partsOf(body, checkpointPartBytes);
    if (parts.length > maxCheckpointParts) throw new StoreError(this.name, `a checkpoint of ${body.length} bytes is past what one transaction writes`);
    const put = (Item: Item) => ({ Put: { TableName: this.table, Item, ConditionExpression: 'attribute_not_exists(pk)' } });
    const items = [put({ pk: S('CHECKPOINTS'), sk: S(seq), parts: N(parts.length), part: { B: parts[0]! } }), ...parts.slice(1).map((b, i) => put({ pk: S(`CP#${seq}`), sk: S(padPart(i + 1)), part: { B: b } }))];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
        return true;
      } catch (e) {
        if ((e as { name?: string }).name !== 'TransactionCanceledException') throw this.fault(e);
        const codes = ((e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
        if (codes[0] === 'ConditionalCheckFailed') return false;
        // Another broker's transaction on the same seq was in flight: try again, and one of the two will find the seq taken.
        if (!codes.includes('TransactionConflict') || attempt >= this.appendAttempts) throw new StoreUnavailableError(this.name, `checkpoint transaction cancelled (${codes.join(',') || 'no reason'})`, { cause: e });
        await sleep(Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  private async checkpointOf(item: Item): Promise<StoredCheckpoint> {
    if (item.body) return decodeCheckpoint(this.name, this.str(item, 'body'));
    const count = this.num(item, 'parts');
    const rest = count > 1 && count <= maxCheckpointParts ? await this.queryAll({ pk: `CP#${this.str(item, 'sk')}` }) : [];
    const parts = [item, ...rest].map((p) => p.part?.B);
    if (parts.length !== count || rest.some((p, i) => p.sk?.S !== padPart(i + 1)) || parts.some((b) => b === undefined)) throw new StoreError(this.name, 'a stored checkpoint lacks one of its parts');
    return decodeCheckpoint(this.name, Buffer.concat(parts as Uint8Array[]).toString('utf8'));
  }

  /**
   * One conditional PutItem: DynamoDB evaluates the condition and the write
   * as one step, so among racing brokers exactly one passes. The table's TTL
   * (attribute `ttl`, seconds) deletes the item some time after it expires;
   * until then the condition on `expiresAt` lets the id be taken again.
   */
  async useTokenOnce(id: string, expiresAt: number, now: number, attempt: string): Promise<boolean> {
    checkTokenId(id, expiresAt, now, attempt);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { pk: S(`U#${id}`), sk: S('USED'), expiresAt: N(expiresAt), attempt: S(attempt), ttl: N(Math.ceil(expiresAt / 1000)) },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now OR attempt = :attempt',
          ExpressionAttributeValues: { ':now': N(now), ':attempt': S(attempt) },
        }),
      );
      return true;
    } catch (e) {
      if ((e as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw this.fault(e);
    }
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const page = (await this.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': S('CHECKPOINTS') }, ScanIndexForward: false, Limit: 1, ConsistentRead: true }),
    )) as { Items?: Item[] };
    const item = page.Items?.[0];
    return item ? this.checkpointOf(item) : null;
  }

  async listCheckpoints(fromSeq: number, limit: number): Promise<StoredCheckpoint[]> {
    const items = await this.range('CHECKPOINTS', padSeq(Math.max(1, fromSeq)), limit, (item) => item);
    const out: StoredCheckpoint[] = [];
    for (const item of items) out.push(await this.checkpointOf(item));
    return out;
  }

  async health(): Promise<Health> {
    try {
      // GetItem only: the function's role has no DescribeTable.
      await this.get('HEALTH', 'HEALTH');
      return { state: 'ready' };
    } catch {
      return { state: 'error', detail: 'dynamodb read failed' };
    }
  }

  async close(): Promise<void> {
    this.client.destroy?.();
  }

  private async get(pk: string, sk: string): Promise<Item | null> {
    const out = (await this.send(new GetItemCommand({ TableName: this.table, Key: { pk: S(pk), sk: S(sk) }, ConsistentRead: true }))) as { Item?: Item };
    return out.Item ?? null;
  }

  private async queryAll(k: { pk: string }): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const input: QueryCommandInput = {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': S(k.pk) },
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      };
      const page = (await this.send(new QueryCommand(input))) as { Items?: Item[]; LastEvaluatedKey?: Item };
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async send(command: BatchGetItemCommand | GetItemCommand | PutItemCommand | QueryCommand): Promise<unknown> {
    try {
      return await this.client.send(command);
    } catch (e) {
      throw this.fault(e);
    }
  }

  /** Any SDK failure is the store being unreachable or refusing: the broker answers 503 and stays safe. */
  private fault(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const name = (e as { name?: string }).name ?? 'error';
    return new StoreUnavailableError(this.name, /^[A-Za-z]{1,64}$/.test(name) ? name : 'error', { cause: e });
  }

  private record(item: Item): ValidatorRecord {
    const r = parseRecord(item.record?.S ?? null);
    if (String(r.version) !== item.version?.N) throw new StoreError(this.name, 'a stored validator record disagrees with its version');
    return r;
  }

  private str(item: Item, key: string): string {
    const v = item[key]?.S;
    if (v === undefined) throw new StoreError(this.name, `a stored item lacks ${key}`);
    return v;
  }

  private num(item: Item, key: string): number {
    const v = Number(item[key]?.N);
    if (!Number.isSafeInteger(v)) throw new StoreError(this.name, `a stored item has a bad ${key}`);
    return v;
  }
}

/**
 * A client with the SDK's own retries off (the broker re-decides on a
 * conflict, and writes must not repeat blindly), whose signer takes a
 * commit's signing time from the store (deadline-signer.ts).
 */
export function dynamoClient(opts: { region: string; endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } }): DynamoDBClient {
  return new DynamoDBClient({
    region: opts.region,
    maxAttempts: 1,
    signerConstructor: DeadlineSigner,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
}
