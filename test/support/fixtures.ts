// Everything a test needs to stand up a broker with no files and no network:
// a clock it controls, a cluster issuer and operator keys generated per run,
// and key material: an EIP-2335 keystore of a BLS key generated per call.

import { createCipheriv, createHash, pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { buildBroker, type Broker, type BrokerParts } from '../../src/compose';
import { Secret, type KeyMaterial } from '../../src/core/key-material';
import type { Timing } from '../../src/core/horizon';
import { GrantSigner, generateSigningJwk, signingKeyFromJwk } from '../../src/grants/signer';
import { signOperatorRequest, type OperatorCredential } from '../../src/identity/dev-credentials';
import type { OperatorKey, OperatorRole } from '../../src/identity/operator-token';
import type { ClusterConfig } from '../../src/identity/pod-token';
import { memoryLogger } from '../../src/log';
import type { Clock, KeyStore, StateStore } from '../../src/ports';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { checkedApp } from '../http/contract';

export class ManualClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 22, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const testTiming: Timing = { grantTtlMs: 60_000, outageToleranceMs: 300_000, maxClockSkewMs: 5_000, commitDeadlineMs: 10_000, commitSendWindowMs: 5_000 };

/** The service account test pods run as, and the one test validators allow. */
export const testServiceAccount = 'validator';

export interface TestCluster {
  readonly config: ClusterConfig;
  /** A projected service-account token as the kubelet would mint it. */
  podToken(opts: { namespace?: string; podName: string; podUid: string; now: number; audience?: string; issuer?: string; ttlSeconds?: number; serviceAccount?: string; withoutIat?: boolean }): Promise<string>;
  readonly privateKey: CryptoKey;
}

export async function testCluster(name = 'eu1'): Promise<TestCluster> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const issuer = `https://oidc.${name}.example.invalid`;
  const config: ClusterConfig = { name, issuer, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256' }] } };
  return {
    config,
    privateKey,
    async podToken(o) {
      const iat = Math.floor(o.now / 1000);
      const namespace = o.namespace ?? 'validators';
      const sa = o.serviceAccount ?? testServiceAccount;
      const jwt = new SignJWT({ 'kubernetes.io': { namespace, pod: { name: o.podName, uid: o.podUid }, serviceaccount: { name: sa, uid: randomUUID() } } })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(o.issuer ?? issuer)
        .setAudience(o.audience ?? 'keyhold')
        .setSubject(`system:serviceaccount:${namespace}:${sa}`)
        .setExpirationTime(iat + (o.ttlSeconds ?? 600));
      return (o.withoutIat ? jwt : jwt.setIssuedAt(iat)).sign(privateKey);
    },
  };
}

export interface TestOperator {
  readonly key: OperatorKey;
  readonly credential: OperatorCredential;
  token(method: string, path: string, now: number): Promise<string>;
}

export async function testOperator(name = 'alice', role: OperatorRole = 'operator'): Promise<TestOperator> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const credential: OperatorCredential = { name, privateJwk: await exportJWK(privateKey) };
  return {
    key: { name, role, publicJwk: await exportJWK(publicKey) },
    credential,
    token: (method, path, now) => signOperatorRequest(credential, method, path, now),
  };
}

/** The genesis validators root test validators are imported with (a made-up chain's). */
export const testGenesisRoot = `0x${'ab'.repeat(32)}`;

/**
 * An EIP-2335 keystore (pbkdf2, c = 2, so tests stay fast) of a fresh BLS key
 * and its password: never a real key. Built here, synchronously, so callers
 * stay simple; the broker checks it with @chainsafe/bls-keystore, which also
 * proves this builder right.
 */
export function eip2335Keystore(opts: { password?: string; secretKey?: Uint8Array } = {}): { keystore: string; password: string; pubkey: string } {
  const password = opts.password ?? randomBytes(24).toString('base64url');
  const secretKey = opts.secretKey ?? bls12_381.utils.randomSecretKey();
  const pubkey = Buffer.from(bls12_381.longSignatures.getPublicKey(secretKey).toBytes(true)).toString('hex');
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  // EIP-2335: decryption key by the KDF, AES-128-CTR under its first half, checksum over its second half and the ciphertext.
  const dk = pbkdf2Sync(Buffer.from(password.normalize('NFKD')), salt, 2, 32, 'sha256');
  const cipher = createCipheriv('aes-128-ctr', dk.subarray(0, 16), iv);
  const message = Buffer.concat([cipher.update(secretKey), cipher.final()]);
  const checksum = createHash('sha256').update(dk.subarray(16, 32)).update(message).digest('hex');
  const keystore = JSON.stringify({
    crypto: {
      kdf: { function: 'pbkdf2', params: { dklen: 32, c: 2, prf: 'hmac-sha256', salt: salt.toString('hex') }, message: '' },
      checksum: { function: 'sha256', params: {}, message: checksum },
      cipher: { function: 'aes-128-ctr', params: { iv: iv.toString('hex') }, message: message.toString('hex') },
    },
    description: 'generated test fixture, not a real key',
    pubkey,
    path: 'm/12381/3600/0/0/0',
    uuid: randomUUID(),
    version: 4,
  });
  return { keystore, password, pubkey };
}

/** A generated EIP-2335 keystore and its password, as key material. */
export function generatedKeyMaterial(): { material: KeyMaterial; publicId: string; keystore: string; password: string } {
  const { keystore, password, pubkey } = eip2335Keystore();
  const publicId = `0x${pubkey}`;
  return {
    publicId,
    keystore,
    password,
    material: {
      format: 'eip2335',
      publicId,
      files: new Map([
        ['keystore.json', new Secret(Buffer.from(keystore))],
        ['password.txt', new Secret(Buffer.from(password))],
      ]),
    },
  };
}

export async function testSigner(): Promise<GrantSigner> {
  return new GrantSigner(await signingKeyFromJwk(await generateSigningJwk()));
}

export interface TestBroker extends Broker {
  readonly clock: ManualClock;
  readonly cluster: TestCluster;
  readonly operator: TestOperator;
  readonly logs: string[];
}

export async function testBroker(
  overrides: Partial<Pick<BrokerParts, 'state' | 'keyStores' | 'timing' | 'keyReader' | 'signer' | 'promotionApprovals' | 'podTokenMaxAgeMs' | 'refusals' | 'ledgerHmacKey' | 'checkpointSchedule' | 'witness' | 'fetchWait' | 'standbyRetryAfter' | 'readReuseMs'>> & {
    clock?: ManualClock;
    cluster?: TestCluster;
    operator?: TestOperator;
    /** More operators the broker trusts besides `operator`. */
    moreOperators?: TestOperator[];
  } = {},
): Promise<TestBroker> {
  const clock = overrides.clock ?? new ManualClock();
  const cluster = overrides.cluster ?? (await testCluster());
  const operator = overrides.operator ?? (await testOperator());
  const logger = memoryLogger();
  const state: StateStore = overrides.state ?? new SqliteStateStore(':memory:');
  const keyStores: KeyStore[] = overrides.keyStores ? [...overrides.keyStores] : [new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now())];
  const broker = buildBroker({
    state,
    keyStores,
    signer: overrides.signer ?? (await testSigner()),
    clusters: [cluster.config],
    operatorKeys: [operator.key, ...(overrides.moreOperators ?? []).map((o) => o.key)],
    timing: overrides.timing ?? testTiming,
    clock,
    logger,
    ...(overrides.keyReader ? { keyReader: overrides.keyReader } : {}),
    ...(overrides.promotionApprovals ? { promotionApprovals: overrides.promotionApprovals } : {}),
    ...(overrides.ledgerHmacKey ? { ledgerHmacKey: overrides.ledgerHmacKey } : {}),
    ...(overrides.checkpointSchedule ? { checkpointSchedule: overrides.checkpointSchedule } : {}),
    ...(overrides.podTokenMaxAgeMs ? { podTokenMaxAgeMs: overrides.podTokenMaxAgeMs } : {}),
    ...(overrides.refusals ? { refusals: overrides.refusals } : {}),
    ...(overrides.witness ? { witness: overrides.witness } : {}),
    ...(overrides.fetchWait ? { fetchWait: overrides.fetchWait } : {}),
    ...(overrides.standbyRetryAfter === undefined ? {} : { standbyRetryAfter: overrides.standbyRetryAfter }),
    ...(overrides.readReuseMs === undefined ? {} : { readReuseMs: overrides.readReuseMs }),
  });
  // Every answer a test receives through the app must be one the OpenAPI document describes.
  return { ...broker, app: checkedApp(broker.app), clock, cluster, operator, logs: logger.lines };
}

/** An ephemeral X25519 key pair, as the init container makes one. */
export async function ephemeralKeyPair(crv: 'X25519' | 'P-256' = 'X25519'): Promise<{ publicJwk: JWK; privateKey: CryptoKey }> {
  const { privateKey, publicKey } = crv === 'X25519'
    ? await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true })
    : await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: true });
  const { kty, crv: c, x, y } = await exportJWK(publicKey);
  return { publicJwk: y === undefined ? { kty, crv: c, x } : { kty, crv: c, x, y }, privateKey };
}
