// The cryptographic floor under one grant and one renewal, done back to back
// with jose on one core: the most any broker could do on this machine if
// everything but the cryptography were free. The HTTP figures are divided by
// these, so a noisy machine moves both sides of the ratio.

import { randomBytes, randomUUID } from 'node:crypto';
import { CompactEncrypt, SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey } from 'jose';
import { progress, round } from './report';

async function perSecond(label: string, seconds: number, once: () => Promise<unknown>): Promise<number> {
  // Warm the JIT and jose's key caches first.
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) await once();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await once();
    n += 1;
  }
  const rate = n / ((performance.now() - start) / 1000);
  progress(`${label}: ${rate.toFixed(0)} sets/s`);
  return round(rate, 0);
}

interface Material {
  readonly issuerPrivate: CryptoKey;
  readonly issuerPublic: CryptoKey;
  readonly podToken: string;
  readonly grantPrivate: CryptoKey;
  readonly grantPublic: CryptoKey;
  readonly grant: string;
  readonly recipient: CryptoKey;
  readonly payload: Uint8Array;
}

async function material(): Promise<Material> {
  const issuer = await generateKeyPair('RS256', { modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  // The shape the kubelet mints, so claim parsing costs what it costs in the broker.
  const podToken = await new SignJWT({
    'kubernetes.io': { namespace: 'validators', pod: { name: 'bench-0', uid: randomUUID() }, serviceaccount: { name: 'validator', uid: randomUUID() } },
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('https://bench.invalid')
    .setAudience('keyhold')
    .setSubject('system:serviceaccount:validators:validator')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(issuer.privateKey);
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const eph = await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true });
  const recipient = (await importJWK(await exportJWK(eph.publicKey), 'ECDH-ES+A256KW')) as CryptoKey;
  const grant = await signGrant(signing.privateKey);
  return {
    issuerPrivate: issuer.privateKey,
    issuerPublic: issuer.publicKey,
    podToken,
    grantPrivate: signing.privateKey,
    grantPublic: signing.publicKey,
    grant,
    recipient,
    // ~200 bytes, like a small keystore and password.
    payload: new TextEncoder().encode(JSON.stringify({ material: randomBytes(120).toString('base64'), slashingProtection: null })),
  };
}

function signGrant(key: CryptoKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ slot: 'local/validators/bench-0', pod_uid: randomUUID(), epoch: 7 })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'g1', typ: 'keyhold-grant+jwt' })
    .setIssuer('keyhold')
    .setSubject('bench-0')
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .setJti(randomUUID())
    .sign(key);
}

/** Verify one RS256 pod token, sign one EdDSA grant, encrypt one ECDH-ES+A256KW/A256GCM JWE to X25519. */
export async function cryptoFloor(seconds: number): Promise<number> {
  const m = await material();
  return perSecond('crypto_floor_per_s', seconds, async () => {
    await jwtVerify(m.podToken, m.issuerPublic, { algorithms: ['RS256'], issuer: 'https://bench.invalid', audience: 'keyhold' });
    await signGrant(m.grantPrivate);
    await new CompactEncrypt(m.payload).setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'keyhold-key+json', kid: 'bench-0@7' }).encrypt(m.recipient);
  });
}

/** Verify the pod token, verify the presented grant, sign the new grant. */
export async function renewFloor(seconds: number): Promise<number> {
  const m = await material();
  return perSecond('renew_floor_per_s', seconds, async () => {
    await jwtVerify(m.podToken, m.issuerPublic, { algorithms: ['RS256'], issuer: 'https://bench.invalid', audience: 'keyhold' });
    await jwtVerify(m.grant, m.grantPublic, { algorithms: ['EdDSA'], issuer: 'keyhold', typ: 'keyhold-grant+jwt' });
    await signGrant(m.grantPrivate);
  });
}
