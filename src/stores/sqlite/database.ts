// How both embedded stores open their file and answer a health check.

import Database from 'better-sqlite3';
import type { Health } from '../../ports';

/** WAL for concurrent readers; synchronous=FULL so an acknowledged write survives a power cut. */
export function openDurable(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}

export function databaseHealth(db: Database.Database): Health {
  try {
    db.prepare('SELECT 1').get();
    return { state: 'ready' };
  } catch {
    return { state: 'error', detail: 'sqlite query failed' };
  }
}
