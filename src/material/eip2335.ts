// EIP-2335 keystores are checked before anything is stored: the keystore must
// decrypt with its password (the checksum), and the BLS public key derived
// from the decrypted secret must be the keystore's `pubkey`. A keystore that
// fails either would otherwise be found out by the validator client at start,
// in the middle of a handoff. The KDF costs about a second at the EIP's
// parameters, so this runs in a worker thread (check-worker.ts), never on the
// request's event loop and never on the grant path.

import { decrypt, isValidKeystore, verifyPassword, type IKeystore } from '@chainsafe/bls-keystore';
import { bls12_381 } from '@noble/curves/bls12-381.js';

export type Eip2335Refusal = 'key_material_invalid' | 'key_password_wrong';
export type Eip2335Check = { readonly ok: true; readonly pubkey: string } | { readonly ok: false; readonly code: Eip2335Refusal };

/**
 * The most work one import may ask of the KDF: the EIP's own parameters
 * (scrypt n = 2^18, r = 8, p = 1; pbkdf2 c = 2^18) fit with room, a keystore
 * crafted to pin a core or exhaust memory does not.
 */
export const kdfLimits = { scryptN: 2 ** 18, scryptRTimesP: 8, pbkdf2C: 2 ** 20 } as const;

const refuse = (code: Eip2335Refusal): Eip2335Check => ({ ok: false, code });
const normalHex = (s: string): string => s.toLowerCase().replace(/^0x/, '');

function withinLimits(ks: IKeystore): boolean {
  const { kdf } = ks.crypto;
  if (kdf.function === 'scrypt') {
    const { n, r, p } = kdf.params as { n: number; r: number; p: number };
    return [n, r, p].every((x) => Number.isSafeInteger(x) && x > 0) && n <= kdfLimits.scryptN && r * p <= kdfLimits.scryptRTimesP;
  }
  if (kdf.function === 'pbkdf2') {
    const { c } = kdf.params as { c: number };
    return Number.isSafeInteger(c) && c > 0 && c <= kdfLimits.pbkdf2C;
  }
  return false;
}

export async function checkEip2335(keystoreBytes: Uint8Array, passwordBytes: Uint8Array): Promise<Eip2335Check> {
  let ks: unknown;
  let password: string;
  try {
    ks = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(keystoreBytes));
  } catch {
    return refuse('key_material_invalid');
  }
  try {
    // A string, so the library applies the EIP's NFKD and control-code
    // stripping (its byte path would strip bytes inside UTF-8 sequences).
    password = new TextDecoder('utf-8', { fatal: true }).decode(passwordBytes);
  } catch {
    return refuse('key_password_wrong');
  }
  if (!isValidKeystore(ks) || !/^(0x)?[0-9a-fA-F]{96}$/.test(ks.pubkey) || !withinLimits(ks)) return refuse('key_material_invalid');
  if (!(await verifyPassword(ks, password))) return refuse('key_password_wrong');
  const secret = await decrypt(ks, password);
  try {
    if (secret.length !== 32) return refuse('key_material_invalid');
    let derived: string;
    try {
      derived = Buffer.from(bls12_381.longSignatures.getPublicKey(secret).toBytes(true)).toString('hex');
    } catch {
      // Zero or not below the group order: not a BLS secret key.
      return refuse('key_material_invalid');
    }
    return derived === normalHex(ks.pubkey) ? { ok: true, pubkey: derived } : refuse('key_material_invalid');
  } finally {
    secret.fill(0);
  }
}
