// Embedded SQLite key store. Material is sealed with AES-256-GCM under the
// key encryption key; the validator id and version are the associated data,
// so a row copied onto another validator or version fails to open.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { fingerprint, parseKeyMaterial, serializeKeyMaterial, type KeyMaterial } from '../../core/key-material';
import { KeyStoreValueTooLargeError, StoreError, type Health, type KeyListing, type KeyStore, type StoredKey } from '../../ports';
import { databaseHealth, openDurable } from './database';

const schema = `
CREATE TABLE IF NOT EXISTS key_versions (
  validator TEXT NOT NULL,
  version INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  nonce BLOB NOT NULL,
  sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (validator, version)
) STRICT;
`;

/** Larger values are refused before they are written; matches the smallest cloud limit (GCP, 64 KiB). */
export const sqliteKeyValueLimit = 65536;

export class SqliteKeyStore implements KeyStore {
  readonly name = 'sqlite';
  private readonly db: Database.Database;

  constructor(
    path: string,
    private readonly kek: Uint8Array,
    private readonly now: () => number = Date.now,
  ) {
    if (kek.length !== 32) throw new TypeError('the key encryption key must be 32 bytes');
    this.db = openDurable(path);
    this.db.exec(schema);
  }

  private aad(validator: string, version: number): Buffer {
    return Buffer.from(`keyhold/key/v1\0${validator}\0${version}`);
  }

  async get(validator: string): Promise<StoredKey | null> {
    const row = this.db
      .prepare('SELECT version, nonce, sealed FROM key_versions WHERE validator = ? ORDER BY version DESC LIMIT 1')
      .get(validator) as { version: number; nonce: Buffer; sealed: Buffer } | undefined;
    if (!row) return null;
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.kek, row.nonce);
      decipher.setAAD(this.aad(validator, row.version));
      decipher.setAuthTag(row.sealed.subarray(row.sealed.length - 16));
      plain = Buffer.concat([decipher.update(row.sealed.subarray(0, row.sealed.length - 16)), decipher.final()]);
    } catch (e) {
      throw new StoreError(this.name, `key material for ${validator} failed authentication (wrong key encryption key or tampered row)`, { cause: e });
    }
    const material = parseKeyMaterial(plain);
    return { material, version: String(row.version) };
  }

  async put(validator: string, material: KeyMaterial): Promise<{ version: string }> {
    const plain = serializeKeyMaterial(material);
    if (plain.length > sqliteKeyValueLimit) {
      plain.fill(0);
      throw new KeyStoreValueTooLargeError(this.name, plain.length, sqliteKeyValueLimit);
    }
    try {
      const write = this.db.transaction(() => {
        const last = this.db.prepare('SELECT MAX(version) AS v FROM key_versions WHERE validator = ?').get(validator) as { v: number | null };
        const version = (last.v ?? 0) + 1;
        const nonce = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', this.kek, nonce);
        cipher.setAAD(this.aad(validator, version));
        const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        this.db
          .prepare('INSERT INTO key_versions (validator, version, fingerprint, nonce, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(validator, version, fingerprint(material.publicId), nonce, sealed, this.now());
        return version;
      });
      return { version: String(write.immediate()) };
    } finally {
      plain.fill(0);
    }
  }

  async list(): Promise<KeyListing[]> {
    const rows = this.db
      .prepare(
        `SELECT validator, version, fingerprint FROM key_versions k
         WHERE version = (SELECT MAX(version) FROM key_versions WHERE validator = k.validator) ORDER BY validator`,
      )
      .all() as { validator: string; version: number; fingerprint: string }[];
    return rows.map((r) => ({ validator: r.validator, version: String(r.version), fingerprint: r.fingerprint }));
  }

  async health(): Promise<Health> {
    return databaseHealth(this.db);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
