// Key material is an opaque set of named files with a format tag, so any
// validator client can consume what the init container writes. The secret
// bytes are wrapped so that logging, JSON-serialising or inspecting the
// object by mistake prints a placeholder, never the key.

import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

const redacted = '[REDACTED]';

/** Secret bytes that refuse to be printed. `reveal()` is the one way out. */
export class Secret {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  reveal(): Uint8Array {
    return this.#bytes;
  }
  get length(): number {
    return this.#bytes.length;
  }
  /** Overwrite in place: for buffers we own, when the material is dropped. */
  wipe(): void {
    this.#bytes.fill(0);
  }
  toString(): string {
    return redacted;
  }
  toJSON(): string {
    return redacted;
  }
  [inspect.custom](): string {
    return redacted;
  }
}

export interface KeyMaterial {
  /** For example `eip2335` (keystore.json + password.txt). */
  readonly format: string;
  /** The public identifier (an Ethereum validator's BLS public key, 0x-hex). */
  readonly publicId: string;
  /** File name → content. Names are plain file names, checked by `isKeyFileName`. */
  readonly files: ReadonlyMap<string, Secret>;
}

export const keyFileNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const isKeyFileName = (name: string): boolean => keyFileNamePattern.test(name) && !name.includes('..');

/**
 * A key's identity, the thing that belongs to one validator id for ever: its
 * public key, lower-case, without `0x` when it is hex. Case is folded for
 * any format, so two spellings of one key can never pass as two keys (the
 * price, a refusal of two keys that differ only in case, is the safe side).
 */
export function keyIdentity(publicId: string): string {
  const lower = publicId.toLowerCase();
  return /^0x[0-9a-f]+$/.test(lower) ? lower.slice(2) : lower;
}

/** SHA-256 of the public identifier: safe to print, log and compare across replicas. */
export const fingerprint = (publicId: string): string => createHash('sha256').update(publicId.toLowerCase()).digest('hex');

/** The wire form stored in key stores and sent inside the JWE. */
export interface SerializedKeyMaterial {
  v: 1;
  format: string;
  publicId: string;
  files: Record<string, string>;
}

export function serializeKeyMaterial(m: KeyMaterial): Uint8Array {
  const files: Record<string, string> = {};
  for (const [name, secret] of m.files) files[name] = Buffer.from(secret.reveal()).toString('base64');
  const wire: SerializedKeyMaterial = { v: 1, format: m.format, publicId: m.publicId, files };
  return new TextEncoder().encode(JSON.stringify(wire));
}

/** Parse stored bytes; a malformed value is a store fault, reported without its content. */
export function parseKeyMaterial(bytes: Uint8Array): KeyMaterial {
  let wire: unknown;
  try {
    wire = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new KeyMaterialFormatError('not JSON');
  }
  if (typeof wire !== 'object' || wire === null) throw new KeyMaterialFormatError('not an object');
  const w = wire as Partial<SerializedKeyMaterial>;
  if (w.v !== 1 || typeof w.format !== 'string' || typeof w.publicId !== 'string' || typeof w.files !== 'object' || w.files === null) {
    throw new KeyMaterialFormatError('missing fields');
  }
  const files = new Map<string, Secret>();
  for (const [name, b64] of Object.entries(w.files)) {
    if (!isKeyFileName(name) || typeof b64 !== 'string') throw new KeyMaterialFormatError('bad file entry');
    files.set(name, new Secret(Buffer.from(b64, 'base64')));
  }
  return { format: w.format, publicId: w.publicId, files };
}

export class KeyMaterialFormatError extends Error {
  readonly code = 'key_material_malformed';
  constructor(reason: string) {
    super(`stored key material is malformed (${reason})`);
    this.name = 'KeyMaterialFormatError';
  }
}
