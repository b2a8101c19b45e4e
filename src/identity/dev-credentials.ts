// The local dev issuer and dev operator credential that a fresh `npm start`
// creates, so a user can walk every flow with curl and the CLI. Only the
// node runtime uses them; cloud brokers trust their clusters' real issuers.

import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import { createSecretFile, readSecretFile } from '../files';
import { generateSigningJwk } from '../grants/signer';
import { bodyHash, operatorTokenType, type OperatorKey } from './operator-token';
import { podTokenAudience } from './pod-token';

export const devCluster = { name: 'local', issuer: 'https://keyhold.invalid/dev-issuer' } as const;
export const devOperatorName = 'dev';

export const homeFiles = (home: string) => ({
  kek: join(home, 'kek'),
  signingKeys: join(home, 'signing-keys.json'),
  devIssuerKey: join(home, 'dev-issuer-key.json'),
  devIssuerJwks: join(home, 'dev-issuer-jwks.json'),
  operatorCredential: join(home, 'operator.json'),
  operators: join(home, 'operators.json'),
});

/** Create whatever is missing; never overwrite. Returns the files it created. */
export async function bootstrapHome(home: string, opts: { dev: boolean }): Promise<string[]> {
  const f = homeFiles(home);
  const created: string[] = [];
  const make = async (path: string, content: () => Promise<string | Uint8Array>) => {
    if (await createSecretFile(path, await content())) created.push(path);
  };
  await make(f.kek, async () => randomBytes(32));
  await make(f.signingKeys, async () => JSON.stringify({ keys: [await generateSigningJwk()] }, null, 2));
  if (!opts.dev) return created;
  const issuerExists = await readFile(f.devIssuerKey).then(() => true, () => false);
  if (!issuerExists) {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const kid = randomUUID();
    await make(f.devIssuerKey, async () => JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'RS256' }));
    await make(f.devIssuerJwks, async () => JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] }));
  }
  const operatorExists = await readFile(f.operatorCredential).then(() => true, () => false);
  if (!operatorExists) {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await make(f.operatorCredential, async () => JSON.stringify({ name: devOperatorName, privateJwk: await exportJWK(privateKey) }));
    const operators: OperatorKey[] = [{ name: devOperatorName, role: 'operator', publicJwk: await exportJWK(publicKey) }];
    await make(f.operators, async () => JSON.stringify(operators, null, 2));
  }
  return created;
}

/** A projected service-account token as the kubelet would mint it, from the dev issuer. */
export async function mintDevPodToken(
  home: string,
  opts: { namespace: string; podName: string; podUid: string; serviceAccount?: string; ttlSeconds?: number; now?: number },
): Promise<string> {
  const jwk = JSON.parse((await readSecretFile(homeFiles(home).devIssuerKey, 'KEYHOLD_HOME')).toString()) as JWK;
  const key = (await importJWK(jwk, 'RS256')) as CryptoKey;
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const sa = opts.serviceAccount ?? 'validator';
  return new SignJWT({
    'kubernetes.io': {
      namespace: opts.namespace,
      pod: { name: opts.podName, uid: opts.podUid },
      serviceaccount: { name: sa, uid: randomUUID() },
    },
  })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid! })
    .setIssuer(devCluster.issuer)
    .setAudience(podTokenAudience)
    .setSubject(`system:serviceaccount:${opts.namespace}:${sa}`)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 600))
    .sign(key);
}

export interface OperatorCredential {
  readonly name: string;
  readonly privateJwk: JWK;
}

/** What one operator request token is bound to. */
export interface SignedRequest {
  readonly method: string;
  /** Path and query, exactly as sent. */
  readonly path: string;
  /** The exact body bytes sent; none: the empty body. */
  readonly body?: string | Uint8Array;
  /** The broker deployment's audience (GET /v1/operator-audience). */
  readonly audience: string;
}

/** A request JWT bound to one request of one deployment, valid for a minute and usable once. */
export async function signOperatorRequest(cred: OperatorCredential, req: SignedRequest, now = Date.now()): Promise<string> {
  const key = (await importJWK(cred.privateJwk, 'EdDSA')) as CryptoKey;
  const iat = Math.floor(now / 1000);
  return new SignJWT({ htm: req.method, htu: req.path, body_sha256: bodyHash(req.body ?? '') })
    .setProtectedHeader({ alg: 'EdDSA', typ: operatorTokenType })
    .setIssuer(cred.name)
    .setAudience(req.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .setJti(randomUUID())
    .sign(key);
}

export async function readOperatorCredential(path: string): Promise<OperatorCredential> {
  return JSON.parse((await readSecretFile(path, 'KEYHOLD_OPERATOR_CREDENTIAL')).toString()) as OperatorCredential;
}
