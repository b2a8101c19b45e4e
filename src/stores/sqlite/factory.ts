import { join } from 'node:path';
import { readSecretFile } from '../../files';
import type { StoreContext } from '../registry';
import { SqliteKeyStore } from './key-store';
import { SqliteStateStore } from './state-store';

export async function createSqliteStateStore(ctx: StoreContext): Promise<SqliteStateStore> {
  return new SqliteStateStore(ctx.env.KEYHOLD_SQLITE_STATE_PATH ?? join(ctx.home, 'state.db'));
}

export async function createSqliteKeyStore(ctx: StoreContext): Promise<SqliteKeyStore> {
  const kekPath = ctx.env.KEYHOLD_KEK_FILE ?? join(ctx.home, 'kek');
  const kek = await readSecretFile(kekPath, 'KEYHOLD_KEK_FILE');
  return new SqliteKeyStore(ctx.env.KEYHOLD_SQLITE_KEYS_PATH ?? join(ctx.home, 'keys.db'), kek, ctx.clock.now);
}
