// The import checks through the worker thread, as the broker runs them.

import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eip2335Keystore } from '../../test/support/fixtures';
import { KeyholdError } from '../core/errors';
import { Secret, type KeyMaterial } from '../core/key-material';
import { WorkerMaterialVerifier } from './verifier';

const vectors = new URL('../../test/fixtures/eip2335/', import.meta.url);
const vector = (name: string) => readFileSync(new URL(name, vectors), 'utf8');
const vectorPubkey = '9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07';

const material = (keystore: string, password: string, publicId?: string, format = 'eip2335'): KeyMaterial => ({
  format,
  publicId: publicId ?? `0x${(JSON.parse(keystore) as { pubkey: string }).pubkey}`,
  files: new Map([
    ['keystore.json', new Secret(Buffer.from(keystore))],
    ['password.txt', new Secret(Buffer.from(password))],
  ]),
});

const refusal = async (p: Promise<unknown>): Promise<string> => {
  const e = await p.then(() => null, (x: unknown) => x);
  if (!(e instanceof KeyholdError)) throw new Error(`expected a refusal, got ${String(e)}`);
  return e.code;
};

const verifier = new WorkerMaterialVerifier();
afterAll(() => verifier.close());

describe('EIP-2335 import checks', () => {
  it('names the key of a generated keystore, whatever the spelling of its declared public id', async () => {
    const g = eip2335Keystore();
    expect(await verifier.identify(material(g.keystore, g.password))).toBe(g.pubkey);
    expect(await verifier.identify(material(g.keystore, g.password, g.pubkey.toUpperCase()))).toBe(g.pubkey);
    // A trailing newline in the password file is a control code: EIP-2335 strips it.
    expect(await verifier.identify(material(g.keystore, `${g.password}\n`))).toBe(g.pubkey);
  });

  it('refuses a wrong password, a pubkey that is not the secret\'s, a declared id that is not the keystore\'s, and malformed material', async () => {
    const g = eip2335Keystore();
    const other = eip2335Keystore();
    expect(await refusal(verifier.identify(material(g.keystore, 'not the password')))).toBe('key_password_wrong');
    // Decrypts with its password, but names another key than the one it holds.
    const lying = JSON.stringify({ ...JSON.parse(g.keystore), pubkey: other.pubkey });
    expect(await refusal(verifier.identify(material(lying, g.password)))).toBe('key_material_invalid');
    expect(await refusal(verifier.identify(material(g.keystore, g.password, `0x${other.pubkey}`)))).toBe('key_material_invalid');
    expect(await refusal(verifier.identify(material('{"not":"a keystore"}', g.password, `0x${g.pubkey}`)))).toBe('key_material_invalid');
    expect(await refusal(verifier.identify(material('not json', g.password, `0x${g.pubkey}`)))).toBe('key_material_invalid');
    const noPassword: KeyMaterial = { format: 'eip2335', publicId: `0x${g.pubkey}`, files: new Map([['keystore.json', new Secret(Buffer.from(g.keystore))]]) };
    expect(await refusal(verifier.identify(noPassword))).toBe('key_material_invalid');
  });

  it('refuses a keystore whose KDF asks for more work than the EIP\'s parameters, without running it', async () => {
    const ks = JSON.parse(vector('scrypt.json')) as { crypto: { kdf: { params: { n: number } } } };
    ks.crypto.kdf.params.n = 2 ** 22;
    const started = performance.now();
    expect(await refusal(verifier.identify(material(JSON.stringify(ks), vector('password.txt'))))).toBe('key_material_invalid');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('runs the scrypt of the EIP\'s vector off the event loop', async () => {
    let longest = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 10);
    const started = performance.now();
    try {
      expect(await verifier.identify(material(vector('scrypt.json'), vector('password.txt')))).toBe(vectorPubkey);
    } finally {
      clearInterval(tick);
    }
    // The KDF alone takes about a second; the loop kept ticking all along.
    expect(performance.now() - started).toBeGreaterThan(300);
    expect(longest).toBeLessThan(250);
  });

  it('takes the declared public id, normalised, as the identity of a format it cannot check', async () => {
    const m: KeyMaterial = { format: 'raw-ed25519', publicId: '0xABCDEF01', files: new Map([['key', new Secret(Buffer.from('x'))]]) };
    expect(await verifier.identify(m)).toBe('abcdef01');
    expect(await refusal(verifier.identify({ ...m, publicId: '..' }))).toBe('key_material_invalid');
  });
});
