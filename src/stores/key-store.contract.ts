// The one conformance suite every KeyStore passes (after Vault's
// sdk/physical/testing.go): SQLite, and each cloud store against its emulator.
// A store's test file calls describeKeyStoreContract with a harness factory;
// the suite knows nothing about any store beyond the port and the harness.
//
// Concurrent writers: a put is a compare-and-swap against the version it
// read. Of several concurrent puts, each either succeeds or fails with
// StateConflictError (code state_conflict); at least one succeeds; and the
// store ends holding exactly one successful put's material, whole, under the
// version that put reported. A store that serialises writes (SQLite) lets
// them all succeed; the last one is then current.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedKeyMaterial } from '../../test/support/fixtures';
import { Secret, fingerprint, serializeKeyMaterial, type KeyMaterial } from '../core/key-material';
import type { KeyStore } from '../ports';

export interface KeyStoreHarness {
  /** The store under test, as its factory builds it. */
  readonly store: KeyStore;
  /** The store's size limit in bytes of serialized material. */
  readonly limit: number;
  /**
   * Put an object at the validator's name with the service's raw client,
   * WITHOUT keyhold's ownership marker, holding `value` (as another tool would).
   * Undefined for stores that have no foreign writers (SQLite).
   */
  readonly createForeign?: (validator: string, value: Uint8Array) => Promise<void>;
  /** Requests the service has received so far (emulator or proxy level); 0 for in-process stores. */
  calls(): number;
  close(): Promise<void>;
}

let counter = 0;
/** A fresh validator id per test, so suites can share one service. */
export const freshValidator = (label = 'v'): string => `${label}-${process.pid % 1000}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/** Material whose serialized form is exactly `size` bytes (size ≥ ~100). */
export function materialOfSize(size: number): KeyMaterial {
  const publicId = `0x${randomBytes(48).toString('hex')}`;
  const build = (name: string, bytes: Buffer): KeyMaterial => ({ format: 'eip2335', publicId, files: new Map([[name, new Secret(bytes)]]) });
  const overhead = serializeKeyMaterial(build('f', Buffer.alloc(0))).length;
  const need = size - overhead;
  if (need < 0) throw new TypeError(`cannot build material of ${size} bytes`);
  // Base64 grows in steps of 4; the file name (up to 64 chars) takes the rest.
  const quads = Math.floor(need / 4);
  const m = build(`f${'x'.repeat(need - quads * 4)}`, randomBytes(quads * 3));
  const actual = serializeKeyMaterial(m).length;
  if (actual !== size) throw new Error(`materialOfSize: built ${actual} bytes, wanted ${size}`);
  return m;
}

const filesOf = (m: KeyMaterial): Record<string, string> => Object.fromEntries([...m.files].map(([k, v]) => [k, Buffer.from(v.reveal()).toString('hex')]));

function expectSameMaterial(actual: KeyMaterial, expected: KeyMaterial): void {
  expect(actual.publicId).toBe(expected.publicId);
  expect(actual.format).toBe(expected.format);
  expect(filesOf(actual)).toEqual(filesOf(expected));
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as { code?: unknown }).code ?? (e as Error).name);
  }
};

/**
 * `foreign`: why a store can hold no object keyhold did not write, when it
 * cannot (the ownership case is then declared skipped, with that reason).
 */
export function describeKeyStoreContract(name: string, makeStore: () => Promise<KeyStoreHarness>, opts: { noForeignObjects?: string } = {}): void {
  describe(`KeyStore contract: ${name}`, () => {
    let h: KeyStoreHarness;
    beforeAll(async () => {
      h = await makeStore();
    });
    afterAll(async () => {
      await h?.close();
    });

    it('a validator with no material reads as null', async () => {
      expect(await h.store.get(freshValidator())).toBeNull();
    });

    it('reads back what it wrote: same bytes, publicId and format, under the version put reported', async () => {
      const v = freshValidator();
      const { material } = generatedKeyMaterial();
      const { version } = await h.store.put(v, material);
      expect(version).toMatch(/\S/);
      const got = await h.store.get(v);
      expect(got).not.toBeNull();
      expectSameMaterial(got!.material, material);
      expect(got!.version).toBe(version);
    });

    it('a second put makes a new version, and get returns the newest', async () => {
      const v = freshValidator();
      const first = generatedKeyMaterial().material;
      const second = generatedKeyMaterial().material;
      const v1 = (await h.store.put(v, first)).version;
      const v2 = (await h.store.put(v, second)).version;
      expect(v2).not.toBe(v1);
      const got = await h.store.get(v);
      expect(got!.version).toBe(v2);
      expectSameMaterial(got!.material, second);
    });

    it('validator ids that differ only in "." and "-" never share an object', async () => {
      const base = freshValidator('dots');
      const dotted = `${base}.a`;
      const dashed = `${base}-a`;
      const a = generatedKeyMaterial().material;
      const b = generatedKeyMaterial().material;
      await h.store.put(dotted, a);
      await h.store.put(dashed, b);
      expectSameMaterial((await h.store.get(dotted))!.material, a);
      expectSameMaterial((await h.store.get(dashed))!.material, b);
    });

    it('lists each validator with its current version and fingerprint', async () => {
      const v = freshValidator('list');
      const { material, publicId } = generatedKeyMaterial();
      await h.store.put(v, generatedKeyMaterial().material);
      const { version } = await h.store.put(v, material);
      const listed = (await h.store.list()).find((l) => l.validator === v);
      expect(listed).toEqual({ validator: v, version, fingerprint: fingerprint(publicId) });
    });

    // A store that only keyhold can write (opts.noForeignObjects says why) has no foreign object to refuse.
    if (!opts.noForeignObjects) it('refuses to overwrite or hand out an object it does not own', async () => {
      if (!h.createForeign) throw new Error('this harness must be able to create a foreign object');
      const v = freshValidator('foreign');
      const foreign = generatedKeyMaterial().material;
      await h.createForeign(v, serializeKeyMaterial(foreign));
      expect(await codeOf(h.store.put(v, generatedKeyMaterial().material))).toBe('not_owned');
      expect(await codeOf(h.store.get(v))).toBe('not_owned');
      expect((await h.store.list()).map((l) => l.validator)).not.toContain(v);
      // And the foreign value is still there, untouched: a second refusal, not a silent overwrite.
      expect(await codeOf(h.store.put(v, generatedKeyMaterial().material))).toBe('not_owned');
    });

    it('accepts a value of exactly its size limit', async () => {
      const v = freshValidator('limit');
      const material = materialOfSize(h.limit);
      const { version } = await h.store.put(v, material);
      const got = await h.store.get(v);
      expect(got!.version).toBe(version);
      expectSameMaterial(got!.material, material);
    });

    it('refuses one byte over the limit before making any call', async () => {
      const v = freshValidator('over');
      const before = h.calls();
      await expect(h.store.put(v, materialOfSize(h.limit + 1))).rejects.toMatchObject({ code: 'value_too_large' });
      expect(h.calls()).toBe(before);
    });

    for (const existing of [false, true]) {
      it(`concurrent writers ${existing ? 'on an existing key' : 'creating a key'}: one consistent winner, never a mix`, async () => {
        const v = freshValidator('race');
        if (existing) await h.store.put(v, generatedKeyMaterial().material);
        const materials = Array.from({ length: 5 }, () => generatedKeyMaterial().material);
        const results = await Promise.allSettled(materials.map((m) => h.store.put(v, m)));
        const won: { material: KeyMaterial; version: string }[] = [];
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') won.push({ material: materials[i]!, version: r.value.version });
          else expect((r.reason as { code?: string }).code).toBe('state_conflict');
        });
        expect(won.length).toBeGreaterThanOrEqual(1);
        expect(new Set(won.map((w) => w.version)).size).toBe(won.length);
        const got = await h.store.get(v);
        const winner = won.find((w) => w.version === got!.version);
        expect(winner, 'get returns the version of a put that succeeded').toBeDefined();
        expectSameMaterial(got!.material, winner!.material);
        // The store keeps working after the race.
        const after = generatedKeyMaterial().material;
        const { version } = await h.store.put(v, after);
        expect((await h.store.get(v))!.version).toBe(version);
      });
    }

    it('reports itself ready', async () => {
      expect((await h.store.health()).state).toBe('ready');
    });
  });
}
