// Invariant 4: key material leaves the broker only as a JWE to the
// requester's ephemeral public key (ECDH-ES+A256KW, A256GCM).

import { CompactEncrypt, importJWK, type JWK, type CryptoKey } from 'jose';
import { z } from 'zod';
import { serializeKeyMaterial, type KeyMaterial } from '../core/key-material';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/).max(200);

/** A public key only: a JWK that carries a private part is refused, not stripped. */
export const ephemeralKeySchema = z.union([
  z.object({ kty: z.literal('OKP'), crv: z.literal('X25519'), x: b64url }).strict(),
  z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: b64url, y: b64url }).strict(),
]);
export type EphemeralKey = z.infer<typeof ephemeralKeySchema>;

export const keyDeliveryAlg = 'ECDH-ES+A256KW';
export const keyDeliveryEnc = 'A256GCM';

export async function importEphemeralKey(jwk: EphemeralKey): Promise<CryptoKey> {
  return (await importJWK(jwk as JWK, keyDeliveryAlg)) as CryptoKey;
}

/** The plaintext of the JWE: the material plus the interchange left for this holder. */
export async function encryptKeyForPod(
  material: KeyMaterial,
  slashingProtection: string | null,
  recipient: CryptoKey,
  context: { validator: string; epoch: number },
): Promise<string> {
  const inner = serializeKeyMaterial(material);
  const payload = Buffer.concat([
    Buffer.from('{"material":'),
    inner,
    Buffer.from(`,"slashingProtection":${JSON.stringify(slashingProtection)}}`),
  ]);
  try {
    return await new CompactEncrypt(payload)
      .setProtectedHeader({ alg: keyDeliveryAlg, enc: keyDeliveryEnc, cty: 'keyhold-key+json', kid: `${context.validator}@${context.epoch}` })
      .encrypt(recipient);
  } finally {
    inner.fill(0);
    payload.fill(0);
  }
}
