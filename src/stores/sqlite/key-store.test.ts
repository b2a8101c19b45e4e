import { randomBytes } from 'node:crypto';
import { describeKeyStoreContract } from '../key-store.contract';
import { SqliteKeyStore, sqliteKeyValueLimit } from './key-store';

describeKeyStoreContract('sqlite', async () => {
  const store = new SqliteKeyStore(':memory:', randomBytes(32));
  return { store, limit: sqliteKeyValueLimit, calls: () => 0, close: () => store.close() };
}, { noForeignObjects: 'the embedded store is a file only keyhold writes; no other tool can put an object in it' });
