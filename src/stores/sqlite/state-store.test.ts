// The reference store against the shared contract: separate instances on one
// database file stand for separate broker processes on one machine.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStateStoreContract } from '../state-store.contract';
import { SqliteStateStore } from './state-store';

describeStateStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-state-'));
  const path = join(dir, 'state.db');
  return {
    open: async () => new SqliteStateStore(path),
    async corruptRecord(id) {
      const s = new SqliteStateStore(path);
      s.rawDatabase().prepare('UPDATE validators SET record = ? WHERE id = ?').run('{"id":"v1","version":"x"}', id);
      await s.close();
    },
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
