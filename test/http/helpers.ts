// Driving the app in-process with app.request, as a pod or an operator would.

import { randomUUID } from 'node:crypto';
import { compactDecrypt, type CryptoKey, type JWK } from 'jose';
import { ephemeralKeyPair, generatedKeyMaterial, testGenesisRoot, testServiceAccount, type TestBroker } from '../support/fixtures';

export const slot0 = 'eu1/validators/v1-0';
export const slot1 = 'eu1/validators/v1-standby-0';

export interface TestPod {
  readonly uid: string;
  readonly podName: string;
  readonly namespace: string;
  readonly publicJwk: JWK;
  readonly privateKey: CryptoKey;
}

export async function pod(slot: string, uid: string = randomUUID()): Promise<TestPod> {
  const [, namespace, podName] = slot.split('/') as [string, string, string];
  return { uid, podName, namespace, ...(await ephemeralKeyPair()) };
}

export async function podHeaders(b: TestBroker, p: TestPod, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const token = await b.cluster.podToken({ namespace: p.namespace, podName: p.podName, podUid: p.uid, now: b.clock.now() });
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra };
}

/** Headers for one operator request: the token is bound to `body` (the exact string sent; none: empty). */
export async function operatorHeaders(b: TestBroker, method: string, path: string, body?: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await b.operator.token(method, path, b.clock.now(), { audience: b.audience, ...(body === undefined ? {} : { body }) })}`, 'content-type': 'application/json' };
}

export async function importValidator(b: TestBroker, id = 'v1', slots = [slot0, slot1]) {
  const gen = generatedKeyMaterial();
  const files = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
  const path = `/v1/validators/${id}/key`;
  const body = JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files, slots, serviceAccounts: [testServiceAccount], genesisValidatorsRoot: testGenesisRoot });
  const res = await b.app.request(path, { method: 'PUT', headers: await operatorHeaders(b, 'PUT', path, body), body });
  if (res.status !== 201) throw new Error(`import failed: ${res.status} ${await res.text()}`);
  return gen;
}

export async function fetchGrant(b: TestBroker, p: TestPod, validator = 'v1') {
  return b.app.request('/v1/grants', { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ validator, ephemeralKey: p.publicJwk }) });
}

export async function decryptKey(jwe: string, key: CryptoKey): Promise<{ material: { format: string; publicId: string; files: Record<string, string> }; slashingProtection: string | null }> {
  const { plaintext } = await compactDecrypt(jwe, key);
  return JSON.parse(new TextDecoder().decode(plaintext));
}

export async function renew(b: TestBroker, p: TestPod, grant: string) {
  return b.app.request('/v1/grants/renew', { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ grant }) });
}

/** A keeper's release or acknowledgement; `stop` defaults to proven, as a keeper that saw its signer exit sends it. */
export async function release(b: TestBroker, p: TestPod, grant: string, slashingProtection?: unknown, stop: 'proven' | 'unproven' | null = 'proven') {
  return b.app.request('/v1/grants/release', {
    method: 'POST',
    headers: await podHeaders(b, p),
    body: JSON.stringify({ grant, ...(slashingProtection === undefined ? {} : { slashingProtection }), ...(stop === null ? {} : { stop }) }),
  });
}

export async function promote(b: TestBroker, slot: string, reason = 'node drain', id = 'v1') {
  const path = `/v1/validators/${id}/promote`;
  const body = JSON.stringify({ slot, reason });
  return b.app.request(path, { method: 'POST', headers: await operatorHeaders(b, 'POST', path, body), body });
}

export async function status(b: TestBroker, id = 'v1') {
  const path = `/v1/validators/${id}`;
  const res = await b.app.request(path, { headers: await operatorHeaders(b, 'GET', path) });
  return (await res.json()) as { designation: { epoch: number; state: string; podUid: string | null; slot: string }; version: number };
}

/** EIP-3076 minimal interchange for one public key. */
export const interchange = (pubkey: string) => ({
  metadata: { interchange_format_version: '5', genesis_validators_root: testGenesisRoot },
  data: [{ pubkey, signed_blocks: [{ slot: '81952' }], signed_attestations: [{ source_epoch: '2290', target_epoch: '3007' }] }],
});
