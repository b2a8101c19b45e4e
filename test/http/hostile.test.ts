// The hostile set: every forged, misdirected or malformed request gets its
// 4xx with a stable code, changes nothing in the store, and leaves no key
// bytes or stack traces in the answer or the logs.

import { createHmac, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { testBroker, testCluster, type TestBroker } from '../support/fixtures';
import { fetchGrant, importValidator, pod, podHeaders, promote, slot0, slot1, type TestPod } from './helpers';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

let b: TestBroker;
let gen: Awaited<ReturnType<typeof importValidator>>;
let a: TestPod;
let snapshot: () => Promise<string>;

beforeEach(async () => {
  b = await testBroker();
  gen = await importValidator(b);
  a = await pod(slot0);
  snapshot = async () => JSON.stringify([await b.parts.state.listValidators(), await b.parts.state.chainHeads()]);
});

/** Sends a grant request with the given Authorization header and body, and checks nothing changed but the ledger of refusals. */
async function refused(authorization: string | null, body: unknown, expectStatus: number, expectCode: string, opts: { contentType?: string; ledgered?: boolean } = {}) {
  const before = await snapshot();
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  if (authorization !== null) headers.authorization = authorization;
  const res = await b.app.request('/v1/grants', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  expect(res.status).toBe(expectStatus);
  expect(JSON.parse(text)).toEqual({ code: expectCode, message: expect.any(String) });
  expect(text).not.toMatch(/at .*\.ts:\d+|Error:|stack/i);
  if (!opts.ledgered) expect(await snapshot()).toBe(before);
  return res;
}

const validBody = () => ({ validator: 'v1', ephemeralKey: a.publicJwk });

describe('pod tokens', () => {
  it('refuses a missing or non-bearer Authorization', async () => {
    await refused(null, validBody(), 401, 'unauthenticated');
    await refused('Basic dXNlcjpwYXNz', validBody(), 401, 'unauthenticated');
    await refused('Bearer short', validBody(), 401, 'unauthenticated');
  });

  it('refuses alg none and an unsigned token', async () => {
    const claims = { iss: b.cluster.config.issuer, aud: 'keyhold', sub: 'x', exp: Math.floor(b.clock.now() / 1000) + 600, 'kubernetes.io': { namespace: 'validators', pod: { name: 'v1-0', uid: a.uid }, serviceaccount: { name: 'validator' } } };
    await refused(`Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, validBody(), 401, 'unauthenticated');
    await refused(`Bearer ${b64({ alg: 'RS256' })}.${b64(claims)}.AAAA`, validBody(), 401, 'unauthenticated');
  });

  it('refuses HS256 signed with the cluster\'s public key as the secret', async () => {
    const pub = JSON.stringify(b.cluster.config.jwks!.keys[0]);
    const claims = { iss: b.cluster.config.issuer, aud: 'keyhold', sub: 'x', exp: Math.floor(b.clock.now() / 1000) + 600, 'kubernetes.io': { namespace: 'validators', pod: { name: 'v1-0', uid: a.uid }, serviceaccount: { name: 'validator' } } };
    const head = `${b64({ alg: 'HS256', kid: b.cluster.config.jwks!.keys[0]!.kid })}.${b64(claims)}`;
    const sig = createHmac('sha256', pub).update(head).digest('base64url');
    await refused(`Bearer ${head}.${sig}`, validBody(), 401, 'unauthenticated');
  });

  it('refuses a wrong audience, a wrong issuer, and an expired token', async () => {
    const now = b.clock.now();
    const t = (o: object) => b.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now, ...o });
    await refused(`Bearer ${await t({ audience: 'vault' })}`, validBody(), 401, 'unauthenticated');
    await refused(`Bearer ${await t({ issuer: 'https://evil.example.invalid' })}`, validBody(), 401, 'unauthenticated');
    await refused(`Bearer ${await t({ now: now - 3_600_000, ttlSeconds: 600 })}`, validBody(), 401, 'unauthenticated');
  });

  it('refuses a token signed by another cluster\'s key under this cluster\'s issuer', async () => {
    const other = await testCluster('eu1');
    const token = await other.podToken({ podName: 'v1-0', podUid: a.uid, now: b.clock.now(), issuer: b.cluster.config.issuer });
    await refused(`Bearer ${token}`, validBody(), 401, 'unauthenticated');
  });

  it('refuses a token not bound to a pod', async () => {
    const token = await new SignJWT({ 'kubernetes.io': { namespace: 'validators', serviceaccount: { name: 'validator' } } })
      .setProtectedHeader({ alg: 'RS256', kid: b.cluster.config.jwks!.keys[0]!.kid! })
      .setIssuer(b.cluster.config.issuer)
      .setAudience('keyhold')
      .setSubject('system:serviceaccount:validators:validator')
      .setExpirationTime(Math.floor(b.clock.now() / 1000) + 600)
      .sign(b.cluster.privateKey);
    await refused(`Bearer ${token}`, validBody(), 401, 'unauthenticated');
  });

  it('gives a pod of another namespace no grant, however it names the validator', async () => {
    const intruder = await pod('eu1/attackers/v1-0');
    const headers = await podHeaders(b, intruder);
    await refused(headers.authorization!, { validator: 'v1', ephemeralKey: intruder.publicJwk }, 403, 'not_designated', { ledgered: true });
  });
});

describe('bodies', () => {
  let auth: string;
  beforeEach(async () => {
    auth = (await podHeaders(b, a)).authorization!;
  });

  it('refuses malformed JSON, wrong types, unknown fields and a non-JSON content type', async () => {
    await refused(auth, '{"validator":', 400, 'invalid_request');
    await refused(auth, { validator: 1, ephemeralKey: a.publicJwk }, 400, 'invalid_request');
    await refused(auth, { ...validBody(), extra: true }, 400, 'invalid_request');
    await refused(auth, validBody(), 415, 'unsupported_media_type', { contentType: 'text/plain' });
  });

  it('refuses an oversized body', async () => {
    await refused(auth, { ...validBody(), pad: 'x'.repeat(20_000) }, 413, 'body_too_large');
  });

  it('refuses an ephemeral key that carries its private part, or is not X25519/P-256', async () => {
    const { generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true });
    await refused(auth, { validator: 'v1', ephemeralKey: await exportJWK(privateKey) }, 400, 'invalid_request');
    await refused(auth, { validator: 'v1', ephemeralKey: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }, 400, 'invalid_request');
    await refused(auth, { validator: 'v1', ephemeralKey: { kty: 'OKP', crv: 'X25519', x: 'not!base64' } }, 400, 'invalid_request');
  });

  it('refuses validator ids with path characters before they reach a store', async () => {
    for (const id of ['../v1', 'v1/../../etc', 'V1', 'v1%2f..', '', 'a'.repeat(64), 'v1..x']) {
      await refused(auth, { validator: id, ephemeralKey: a.publicJwk }, 400, 'invalid_request');
    }
    const path = '/v1/validators/..%2Fv1';
    const res = await b.app.request(path, { headers: { authorization: `Bearer ${await b.operator.token('GET', path, b.clock.now())}` } });
    expect([400, 404]).toContain(res.status);
  });
});

describe('grants presented by the wrong party', () => {
  it('refuses a grant replayed by another pod instance, for renew and for release', async () => {
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const thief = await pod(slot0);
    const before = JSON.stringify(await b.parts.state.listValidators());
    for (const path of ['/v1/grants/renew', '/v1/grants/release']) {
      const res = await b.app.request(path, { method: 'POST', headers: await podHeaders(b, thief), body: JSON.stringify({ grant }) });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'invalid_grant' });
    }
    // The designation is untouched; both attempts are on the record, naming the pod that tried.
    expect(JSON.stringify(await b.parts.state.listValidators())).toBe(before);
    const refusals = (await b.parts.state.readChain('v1', 1, 100)).filter((e) => e.reason === 'invalid_grant');
    expect(refusals.map((e) => e.actor)).toEqual([`pod:${thief.uid}`, `pod:${thief.uid}`]);
  });

  it('refuses a grant signed by another broker, and a tampered one', async () => {
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const other = await testBroker({ clock: b.clock, cluster: b.cluster });
    await importValidator(other);
    const res = await other.app.request('/v1/grants/renew', { method: 'POST', headers: await podHeaders(other, a), body: JSON.stringify({ grant }) });
    expect(res.status).toBe(401);
    const [h, p, s] = grant.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${b64({ ...claims, epoch: 99 })}.${s}`;
    const res2 = await b.app.request('/v1/grants/renew', { method: 'POST', headers: await podHeaders(b, a), body: JSON.stringify({ grant: forged }) });
    expect(res2.status).toBe(401);
  });
});

describe('operators', () => {
  it('refuses pod tokens, tokens bound to another path, and viewers that try to promote', async () => {
    const before = await snapshot();
    const path = '/v1/validators/v1/promote';
    const body = JSON.stringify({ slot: slot1, reason: 'x' });
    const asPod = await b.app.request(path, { method: 'POST', headers: await podHeaders(b, a), body });
    expect(asPod.status).toBe(401);
    const { testOperator } = await import('../support/fixtures');
    const viewer = await testOperator('victor', 'viewer');
    const vb = await testBroker({ clock: b.clock, cluster: b.cluster, operator: viewer });
    const vres = await vb.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${await viewer.token('POST', path, b.clock.now(), { body })}`, 'content-type': 'application/json' }, body });
    expect(vres.status).toBe(403);
    expect(await snapshot()).toBe(before);
    // A genuine token for another path changes no record, and is ledgered as refused.
    const wrongPath = await b.operator.token('POST', '/v1/validators/v2/promote', b.clock.now(), { body });
    const res = await b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${wrongPath}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'token_mismatch' });
    expect(JSON.stringify(await b.parts.state.listValidators())).toBe(JSON.stringify(JSON.parse(before)[0]));
  });

  it('refuses a replayed operator request token, so a promotion cannot be repeated by replay', async () => {
    const path = '/v1/validators/v1/promote';
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const token = await b.operator.token('POST', path, b.clock.now(), { body });
    const send = () => b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    expect((await send()).status).toBe(200);
    const replay = await send();
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'token_replayed' });
    const after = (await b.parts.state.getValidator('v1'))!.designation.epoch;
    expect(after).toBe(2);
    // A fresh token for the same call is fine.
    expect((await promote(b, slot0, 'back')).status).toBe(200);
  });

  it('refuses a promotion without a reason', async () => {
    const path = '/v1/validators/v1/promote';
    const body = JSON.stringify({ slot: slot1, reason: '   ' });
    const res = await b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${await b.operator.token('POST', path, b.clock.now(), { body })}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect((await promote(b, slot1, 'ok')).status).toBe(200);
  });
});

describe('secrets never leak', () => {
  it('keeps key bytes out of every log line and every non-JWE answer', async () => {
    const p = await pod(slot0);
    const res = await fetchGrant(b, p);
    expect(res.status).toBe(201);
    const { key, ...rest } = (await res.json()) as { key: string };
    expect(key.split('.')).toHaveLength(5);
    const visible = [JSON.stringify(rest), ...b.logs].join('\n');
    const needles = [gen.password, gen.keystore.slice(20, 60), Buffer.from(gen.password).toString('base64'), Buffer.from(gen.keystore).toString('base64').slice(10, 50)];
    for (const n of needles) expect(visible).not.toContain(n);
    const ledger = JSON.stringify(await b.parts.state.readChain('v1', 1, 100));
    for (const n of needles) expect(ledger).not.toContain(n);
    expect(b.logs.length).toBeGreaterThan(0);
  });

  it('answers an unexpected failure with a fixed 500 body and logs only the error\'s name', async () => {
    const broken = await testBroker({ clock: b.clock, cluster: b.cluster });
    await importValidator(broken);
    const secret = `s3cr3t-${randomUUID()}`;
    (broken.parts.state as { getValidator: unknown }).getValidator = async () => {
      throw new TypeError(`boom ${secret}`);
    };
    const res = await fetchGrant(broken, await pod(slot0));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 'internal', message: 'Internal error.' });
    expect(broken.logs.join('\n')).not.toContain(secret);
    expect(broken.logs.join('\n')).toContain('TypeError');
  });
});

describe('who the pod is', () => {
  it('refuses a pod of the right namespace and pod name under another service account, and ledgers it', async () => {
    const before = (await b.parts.state.readChain('v1', 1, 100)).length;
    const token = await b.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now: b.clock.now(), serviceAccount: 'default' });
    await refused(`Bearer ${token}`, validBody(), 403, 'service_account_not_allowed', { ledgered: true });
    const entries = await b.parts.state.readChain('v1', 1, 100);
    expect(entries.slice(before).map((e) => [e.action, e.reason])).toEqual([['denied', 'service_account_not_allowed']]);
    expect((await b.parts.state.getValidator('v1'))!.designation).toMatchObject({ state: 'vacant', podUid: null });
  });

  it('refuses a token issued longer ago than the maximum age, however far off its exp', async () => {
    const now = b.clock.now();
    const old = await b.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now: now - 3_601_000 - 5_000, ttlSeconds: 86_400 });
    await refused(`Bearer ${old}`, validBody(), 401, 'unauthenticated');
    const young = await b.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now: now - 3_500_000, ttlSeconds: 86_400 });
    const res = await b.app.request('/v1/grants', { method: 'POST', headers: { authorization: `Bearer ${young}`, 'content-type': 'application/json' }, body: JSON.stringify(validBody()) });
    expect(res.status).toBe(201);
  });

  it('refuses a token without iat, since its age cannot be known', async () => {
    const token = await b.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now: b.clock.now(), withoutIat: true });
    await refused(`Bearer ${token}`, validBody(), 401, 'unauthenticated');
  });

  it('takes the maximum age from the broker setting', async () => {
    const strict = await testBroker({ podTokenMaxAgeMs: 60_000 });
    await importValidator(strict);
    const token = await strict.cluster.podToken({ podName: 'v1-0', podUid: a.uid, now: strict.clock.now() - 120_000, ttlSeconds: 600 });
    const res = await strict.app.request('/v1/grants', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(validBody()) });
    expect(res.status).toBe(401);
  });
});
