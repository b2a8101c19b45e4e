// The pod's half of key delivery (invariant 4): an X25519 key pair that lives
// only in this process's memory (the private key is not extractable), the
// public half sent with the fetch, and the broker's JWE opened with it.

import { compactDecrypt, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { EphemeralKey } from '../src/grants/key-delivery';
import { isAllowedMaterialName, type KeyBundle } from './key-files';

// The broker's choice in src/grants/key-delivery.ts, restated rather than
// imported so the hook bundle does not pull in the broker's schema code; the
// e2e tests decrypt real deliveries, so a drift fails there.
const keyDeliveryAlg = 'ECDH-ES+A256KW';
const keyDeliveryEnc = 'A256GCM';

export interface EphemeralKeyPair {
  readonly publicJwk: EphemeralKey;
  readonly privateKey: CryptoKey;
}

export async function ephemeralKeyPair(): Promise<EphemeralKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(keyDeliveryAlg, { crv: 'X25519', extractable: false });
  const jwk = await exportJWK(publicKey);
  if (jwk.kty !== 'OKP' || jwk.crv !== 'X25519' || typeof jwk.x !== 'string') throw new Error('unexpected ephemeral public key shape');
  return { publicJwk: { kty: 'OKP', crv: 'X25519', x: jwk.x }, privateKey };
}

export class KeyDeliveryError extends Error {
  constructor(reason: string) {
    // The reason names a field or a shape, never a value from the plaintext.
    super(`the broker's key delivery could not be used: ${reason}`);
    this.name = 'KeyDeliveryError';
  }
}

/** Open the JWE and check its plaintext's shape. The returned buffers are the caller's to wipe. */
export async function openKeyDelivery(jwe: string, privateKey: CryptoKey): Promise<KeyBundle> {
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, privateKey, { keyManagementAlgorithms: [keyDeliveryAlg], contentEncryptionAlgorithms: [keyDeliveryEnc] }));
  } catch {
    throw new KeyDeliveryError('decryption failed');
  }
  try {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(plaintext));
    } catch {
      throw new KeyDeliveryError('plaintext is not JSON');
    }
    const p = parsed as { material?: { v?: unknown; format?: unknown; publicId?: unknown; files?: unknown }; slashingProtection?: unknown };
    const m = p.material;
    if (typeof m !== 'object' || m === null || m.v !== 1) throw new KeyDeliveryError('material missing or of an unknown version');
    if (typeof m.format !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,31}$/.test(m.format)) throw new KeyDeliveryError('material.format');
    if (typeof m.publicId !== 'string' || !/^[A-Za-z0-9:._-]{1,256}$/.test(m.publicId)) throw new KeyDeliveryError('material.publicId');
    if (typeof m.files !== 'object' || m.files === null) throw new KeyDeliveryError('material.files');
    const files = new Map<string, Uint8Array>();
    for (const [name, b64] of Object.entries(m.files as Record<string, unknown>)) {
      if (!isAllowedMaterialName(name)) throw new KeyDeliveryError('a material file name is not allowed');
      if (typeof b64 !== 'string') throw new KeyDeliveryError('a material file is not base64 text');
      files.set(name, Buffer.from(b64, 'base64'));
    }
    if (files.size === 0) throw new KeyDeliveryError('material has no files');
    const sp = p.slashingProtection;
    if (sp !== null && sp !== undefined && typeof sp !== 'string') throw new KeyDeliveryError('slashingProtection is neither text nor null');
    return { format: m.format, publicId: m.publicId, files, slashingProtection: typeof sp === 'string' ? sp : null };
  } finally {
    plaintext.fill(0);
  }
}

export interface GrantClaimsView {
  readonly validator: string;
  readonly slot: string;
  readonly podUid: string;
  readonly epoch: number;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

/**
 * The grant's claims, read without verifying: the pod cannot verify the
 * broker's signature usefully (it would have to trust whatever JWKS it is
 * given), and it only uses these numbers to stop earlier, never to hold longer
 * than its own clock allows.
 */
export function grantClaims(token: string): GrantClaimsView {
  const c = decodeJwt(token);
  const { sub, slot, pod_uid: podUid, epoch, iat, exp, jti } = c as Record<string, unknown>;
  if (typeof sub !== 'string' || typeof slot !== 'string' || typeof podUid !== 'string' || typeof epoch !== 'number' || typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string') {
    throw new KeyDeliveryError('grant claims missing');
  }
  return { validator: sub, slot, podUid, epoch, iat, exp, jti };
}
