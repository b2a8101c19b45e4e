// Operator request tokens against the attacks of issue 14: one token,
// captured, replayed on another broker replica, with another body, on
// another path, on another deployment, or after it expired. Each is refused
// with its stable code, changes no record, and is ledgered; a token that is
// not genuinely signed is refused without a ledger entry (anyone can send
// one). And two-person promotion counts people, not names.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyHash, maxOperatorTokenSeconds, operatorClockToleranceSeconds } from '../../src/identity/operator-token';
import type { LedgerEntry } from '../../src/core/ledger';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { ManualClock, testAudience, testBroker, testOperator, testSigner, type TestBroker } from '../support/fixtures';
import { importValidator, operatorHeaders, promote, slot0, slot1 } from './helpers';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const promotePath = '/v1/validators/v1/promote';

async function refusals(b: TestBroker): Promise<LedgerEntry[]> {
  return (await b.parts.state.queryLedger({ action: 'denied', limit: 100 })).entries.filter((e) => e.actor.startsWith('operator:'));
}

async function send(b: TestBroker, token: string, body: string, path = promotePath) {
  const res = await b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  return { status: res.status, body: (await res.json()) as { code?: string } };
}

/** Two broker instances (each its own store client) on one SQLite file: two replicas of one deployment. */
async function twoReplicas(): Promise<[TestBroker, TestBroker]> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-replicas-'));
  dirs.push(dir);
  const file = join(dir, 'state.db');
  const clock = new ManualClock();
  const signer = await testSigner();
  const a = await testBroker({ clock, signer, state: new SqliteStateStore(file) });
  const b = await testBroker({ clock, signer, cluster: a.cluster, operator: a.operator, keyStores: [...a.parts.keyStores], state: new SqliteStateStore(file) });
  return [a, b];
}

describe('an operator request token', () => {
  it('is used once across replicas: a replay on the other broker is refused with token_replayed and ledgered', async () => {
    const [a, b] = await twoReplicas();
    await importValidator(a);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const token = await a.operator.token('POST', promotePath, a.clock.now(), { body });
    expect((await send(a, token, body)).status).toBe(200);
    const epoch = (await b.parts.state.getValidator('v1'))!.designation.epoch;
    expect(await send(b, token, body)).toMatchObject({ status: 401, body: { code: 'token_replayed' } });
    expect(await send(a, token, body)).toMatchObject({ status: 401, body: { code: 'token_replayed' } });
    expect((await b.parts.state.getValidator('v1'))!.designation.epoch).toBe(epoch);
    const ledgered = await refusals(b);
    expect(ledgered.map((e) => [e.actor, e.reason, e.validator, e.details.request])).toEqual([
      ['operator:alice', 'token_replayed', 'v1', 'POST /v1/validators/{id}/promote'],
      ['operator:alice', 'token_replayed', 'v1', 'POST /v1/validators/{id}/promote'],
    ]);
    // Every GET is bound and used once too.
    const headers = await operatorHeaders(a, 'GET', '/v1/validators/v1');
    expect((await a.app.request('/v1/validators/v1', { headers })).status).toBe(200);
    expect((await b.app.request('/v1/validators/v1', { headers })).status).toBe(401);
  });

  it('is refused with another body (token_mismatch), ledgered, and the promotion does not move', async () => {
    const b = await testBroker();
    await importValidator(b);
    const signed = JSON.stringify({ slot: slot0, reason: 'fence the stuck pod' });
    const token = await b.operator.token('POST', promotePath, b.clock.now(), { body: signed });
    const before = await b.parts.state.getValidator('v1');
    expect(await send(b, token, JSON.stringify({ slot: slot1, reason: 'fence the stuck pod' }))).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    // One byte of whitespace is another body.
    expect(await send(b, token, `${signed} `)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    expect(await b.parts.state.getValidator('v1')).toEqual(before);
    // The same token refused the same way is ledgered once (per broker instance), however often it is sent.
    expect((await refusals(b)).map((e) => [e.reason, e.details.claim])).toEqual([['token_mismatch', 'body_sha256']]);
    // The token was never used: with the body it was signed for, it works once.
    expect((await send(b, token, signed)).status).toBe(200);
  });

  it('is refused on another path, another method or another query (token_mismatch), and ledgered', async () => {
    const b = await testBroker();
    await importValidator(b);
    await importValidator(b, 'v2', ['eu1/validators/v2-0', 'eu1/validators/v2-1']);
    const body = JSON.stringify({ slot: 'eu1/validators/v2-1', reason: 'drain' });
    const forV2 = await b.operator.token('POST', '/v1/validators/v2/promote', b.clock.now(), { body });
    expect(await send(b, forV2, body)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    const asGet = await b.operator.token('GET', promotePath, b.clock.now(), { body });
    expect(await send(b, asGet, body)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    const query = await b.operator.token('GET', '/v1/audit?validator=v1', b.clock.now());
    const res = await b.app.request('/v1/audit?validator=v2', { headers: { authorization: `Bearer ${query}` } });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, 'token_mismatch']);
    expect((await refusals(b)).map((e) => e.details.claim)).toEqual(['htu', 'htm', 'htu']);
    expect((await b.parts.state.getValidator('v2'))!.designation.epoch).toBe(1);
  });

  it('is refused on another deployment (token_mismatch), whose audience is derived from its own signing key', async () => {
    const here = await testBroker({ operatorAudience: null });
    const there = await testBroker({ operatorAudience: null, operator: here.operator, clock: here.clock, cluster: here.cluster });
    const audHere = ((await (await here.app.request('/v1/operator-audience')).json()) as { audience: string }).audience;
    const audThere = ((await (await there.app.request('/v1/operator-audience')).json()) as { audience: string }).audience;
    expect(audHere).toMatch(/^keyhold:[A-Za-z0-9_-]{43}$/);
    expect(audThere).not.toBe(audHere);
    await importValidator(there);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const token = await here.operator.token('POST', promotePath, here.clock.now(), { body, audience: audHere });
    expect(await send(there, token, body)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    expect((await refusals(there)).map((e) => [e.reason, e.details.claim])).toEqual([['token_mismatch', 'aud']]);
    expect((await there.parts.state.getValidator('v1'))!.designation.epoch).toBe(1);
    // The default audience of the test brokers is not accepted by a deployment that derives its own.
    const fixed = await here.operator.token('POST', promotePath, here.clock.now(), { body });
    expect(await send(there, fixed, body)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    // And with its own audience the same operator is accepted there.
    expect((await send(there, await here.operator.token('POST', promotePath, here.clock.now(), { body, audience: audThere }), body)).status).toBe(200);
  });

  it('is refused after it expires (token_expired), and ledgered', async () => {
    const b = await testBroker();
    await importValidator(b);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const token = await b.operator.token('POST', promotePath, b.clock.now(), { body });
    b.clock.advance((60 + operatorClockToleranceSeconds + 1) * 1000);
    expect(await send(b, token, body)).toMatchObject({ status: 401, body: { code: 'token_expired' } });
    b.clock.advance(3600_000);
    for (let i = 0; i < 3; i++) expect(await send(b, token, body)).toMatchObject({ status: 401, body: { code: 'token_expired' } });
    expect((await refusals(b)).map((e) => e.reason)).toEqual(['token_expired']);
    expect((await b.parts.state.getValidator('v1'))!.designation.epoch).toBe(1);
  });

  it('refuses a token that lives longer than the maximum, or is not genuinely signed, without ledgering it', async () => {
    const b = await testBroker();
    await importValidator(b);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const stranger = await testOperator('alice');
    expect(await send(b, await stranger.token('POST', promotePath, b.clock.now(), { body }), body)).toMatchObject({ status: 401, body: { code: 'unauthenticated' } });
    const token = await b.operator.token('POST', promotePath, b.clock.now(), { body });
    const [h, p] = token.split('.');
    expect(await send(b, `${h}.${p}.${'A'.repeat(86)}`, body)).toMatchObject({ status: 401, body: { code: 'unauthenticated' } });
    expect(maxOperatorTokenSeconds).toBeLessThanOrEqual(300);
    // Every claim right, signed by the operator's key, but not typed as a request token: some other JWT of that key.
    const iat = Math.floor(b.clock.now() / 1000);
    const untyped = await new SignJWT({ htm: 'POST', htu: promotePath, body_sha256: bodyHash(body) })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer('alice')
      .setAudience(b.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .setJti(randomUUID())
      .sign(await importJWK(b.operator.credential.privateJwk, 'EdDSA'));
    expect(await send(b, untyped, body)).toMatchObject({ status: 401, body: { code: 'unauthenticated' } });
    expect(await refusals(b)).toEqual([]);
  });
});

describe('OIDC operator tokens', () => {
  async function oidcBroker(more: Partial<Parameters<typeof testBroker>[0]> = {}) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const issuer = 'https://login.example.test';
    const b = await testBroker({ operatorOidc: { issuer, audience: 'keyhold-prod', jwks: { keys: [jwk] }, roleClaim: 'keyhold_roles' }, ...more });
    /** An access token for `sub`, bound to a key when `jkt` is given (RFC 9449 cnf.jkt). */
    const login = (sub: string, jkt?: string) =>
      new SignJWT({ keyhold_roles: ['keyhold-operator'], ...(jkt ? { cnf: { jkt } } : {}) })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience('keyhold-prod')
        .setSubject(sub)
        .setIssuedAt(Math.floor(b.clock.now() / 1000))
        .setExpirationTime(Math.floor(b.clock.now() / 1000) + 600)
        .sign(privateKey);
    return { b, login };
  }

  /** A DPoP key and proofs from it: RFC 9449 claims plus keyhold's body_sha256. */
  async function dpopKey(keys?: { privateJwk: JWK; publicJwk: JWK }) {
    const pair = keys ?? (await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true }).then(async (k) => ({ privateJwk: await exportJWK(k.privateKey), publicJwk: await exportJWK(k.publicKey) })));
    const priv = await importJWK(pair!.privateJwk, 'EdDSA');
    const { kty, crv, x } = pair!.publicJwk;
    return {
      jkt: await calculateJwkThumbprint(pair!.publicJwk, 'sha256'),
      proof: (o: { htm: string; path: string; token: string; body: string; now: number }) =>
        new SignJWT({ htm: o.htm, htu: `https://keyhold.example${o.path}`, ath: bodyHash(o.token), body_sha256: bodyHash(o.body) })
          .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: { kty, crv, x } })
          .setIssuedAt(Math.floor(o.now / 1000))
          .setJti(randomUUID())
          .sign(priv),
    };
  }

  const post = async (b: TestBroker, path: string, token: string, body: string, dpop?: string) => {
    const r = await b.app.request(path, { method: 'POST', headers: { authorization: `DPoP ${token}`, 'content-type': 'application/json', ...(dpop ? { dpop } : {}) }, body });
    return { status: r.status, body: (await r.json()) as { code?: string } };
  };

  it('reads with a bearer token, and changes state only with a DPoP proof from the key the token is bound to', async () => {
    const { b, login } = await oidcBroker();
    await importValidator(b);
    const key = await dpopKey();
    const bearerOnly = await login('u-1');
    const read = await b.app.request('/v1/validators/v1', { headers: { authorization: `Bearer ${bearerOnly}` } });
    expect(read.status).toBe(200);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    // A token bound to no key, or no proof: refused before anything happens, nothing ledgered.
    expect(await send(b, bearerOnly, body)).toMatchObject({ status: 403, body: { code: 'signed_request_required' } });
    expect(await post(b, promotePath, bearerOnly, body, await key.proof({ htm: 'POST', path: promotePath, token: bearerOnly, body, now: b.clock.now() }))).toMatchObject({ status: 403, body: { code: 'signed_request_required' } });
    const bound = await login('u-1', key.jkt);
    expect(await post(b, promotePath, bound, body)).toMatchObject({ status: 403, body: { code: 'signed_request_required' } });
    // A thief of the token signs with its own key: no proof of holding the bound one.
    const thief = await dpopKey();
    expect(await post(b, promotePath, bound, body, await thief.proof({ htm: 'POST', path: promotePath, token: bound, body, now: b.clock.now() }))).toMatchObject({ status: 403, body: { code: 'signed_request_required' } });
    expect(await refusals(b)).toEqual([]);
    const cp = await b.app.request('/v1/audit/checkpoints', { method: 'POST', headers: { authorization: `Bearer ${bearerOnly}` } });
    expect(cp.status).toBe(403);
    // A POST that changes nothing (verify against a trusted checkpoint) is a read.
    const verify = await b.app.request('/v1/audit/verify', { method: 'POST', headers: { authorization: `Bearer ${bearerOnly}`, 'content-type': 'application/json' }, body: '{}' });
    expect(verify.status).toBe(200);
    expect((await b.parts.state.getValidator('v1'))!.designation.epoch).toBe(1);
    const proof = await key.proof({ htm: 'POST', path: promotePath, token: bound, body, now: b.clock.now() });
    expect((await post(b, promotePath, bound, body, proof)).status).toBe(200);
    expect((await b.parts.state.getValidator('v1'))!.designation.epoch).toBe(2);
  });

  it('refuses a proof replayed on another replica, or used with another body, and ledgers both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-replicas-'));
    dirs.push(dir);
    const file = join(dir, 'state.db');
    const signer = await testSigner();
    const { b, login } = await oidcBroker({ signer, state: new SqliteStateStore(file) });
    const other = await testBroker({ signer, clock: b.clock, cluster: b.cluster, operator: b.operator, keyStores: [...b.parts.keyStores], state: new SqliteStateStore(file), operatorOidc: b.parts.operatorOidc! });
    await importValidator(b);
    const key = await dpopKey();
    const token = await login('u-1', key.jkt);
    const body = JSON.stringify({ slot: slot1, reason: 'drain' });
    const proof = await key.proof({ htm: 'POST', path: promotePath, token, body, now: b.clock.now() });
    expect(await post(b, promotePath, token, JSON.stringify({ slot: slot0, reason: 'drain' }), proof)).toMatchObject({ status: 401, body: { code: 'token_mismatch' } });
    expect((await post(b, promotePath, token, body, proof)).status).toBe(200);
    expect(await post(other, promotePath, token, body, proof)).toMatchObject({ status: 401, body: { code: 'token_replayed' } });
    expect((await refusals(other)).map((e) => [e.actor, e.reason, e.details.claim])).toEqual([
      ['operator:oidc:u-1', 'token_mismatch', 'body_sha256'],
      ['operator:oidc:u-1', 'token_replayed', 'jti'],
    ]);
    expect((await other.parts.state.getValidator('v1'))!.designation.epoch).toBe(2);
  });

  it('counts a key and its owner\'s OIDC login (mapped to the same subject) as one approver', async () => {
    const alice = await testOperator('alice', 'operator', undefined, 'u-alice');
    const { b, login } = await oidcBroker({ promotionApprovals: 2, operator: alice });
    await importValidator(b);
    expect((await promote(b, slot1)).status).toBe(202);
    const body = JSON.stringify({ slot: slot1, reason: 'agreed' });
    const aliceLogin = await dpopKey();
    const token = await login('u-alice', aliceLogin.jkt);
    const asAlice = await post(b, promotePath, token, body, await aliceLogin.proof({ htm: 'POST', path: promotePath, token, body, now: b.clock.now() }));
    expect(asAlice).toMatchObject({ status: 409, body: { code: 'second_approver_required' } });
    // Her operator key as the DPoP key of another subject's login is still her key.
    const viaKey = await dpopKey({ privateJwk: alice.credential.privateJwk, publicJwk: alice.key.publicJwk });
    const dave = await login('u-dave', viaKey.jkt);
    expect(await post(b, promotePath, dave, body, await viaKey.proof({ htm: 'POST', path: promotePath, token: dave, body, now: b.clock.now() }))).toMatchObject({ status: 409, body: { code: 'second_approver_required' } });
    const bobKey = await dpopKey();
    const bob = await login('u-bob', bobKey.jkt);
    expect((await post(b, promotePath, bob, body, await bobKey.proof({ htm: 'POST', path: promotePath, token: bob, body, now: b.clock.now() }))).status).toBe(200);
    expect((await b.parts.state.getValidator('v1'))!.designation).toMatchObject({ epoch: 2, slot: slot1 });
  });
});

describe('two-person promotion', () => {
  it('counts one key listed under two names as one approver', async () => {
    const alice = await testOperator('alice');
    const alias = await testOperator('alice-laptop', 'operator', { privateJwk: alice.credential.privateJwk, publicJwk: alice.key.publicJwk });
    const bob = await testOperator('bob');
    const b = await testBroker({ promotionApprovals: 2, operator: alice, moreOperators: [alias, bob] });
    await importValidator(b);
    expect((await promote(b, slot1)).status).toBe(202);
    const body = JSON.stringify({ slot: slot1, reason: 'agreed' });
    const asAlias = await send(b, await alias.token('POST', promotePath, b.clock.now(), { body }), body);
    expect(asAlias).toMatchObject({ status: 409, body: { code: 'second_approver_required' } });
    expect((await b.parts.state.getValidator('v1'))!.designation.epoch).toBe(1);
    const asBob = await send(b, await bob.token('POST', promotePath, b.clock.now(), { body }), body);
    expect(asBob.status).toBe(200);
    expect((await b.parts.state.getValidator('v1'))!.designation).toMatchObject({ epoch: 2, slot: slot1 });
  });

  it('counts a key and the OIDC subject its owner is mapped to as one person', async () => {
    const alice = await testOperator('alice', 'operator', undefined, 'u-alice');
    const carol = await testOperator('carol', 'operator', undefined, 'u-carol');
    const b = await testBroker({ promotionApprovals: 2, operator: alice, moreOperators: [carol] });
    await importValidator(b);
    expect((await promote(b, slot1)).status).toBe(202);
    const stored = (await b.parts.state.getValidator('v1'))!.pendingPromotion!;
    expect(stored.proposerPrincipals).toContain('oidc:u-alice');
    expect(stored.proposerPrincipals!.find((p) => p.startsWith('jwk:'))).toMatch(/^jwk:[A-Za-z0-9_-]{43}$/);
    // The principals stay in the store: the API shows the proposer's name only.
    const shown = await b.app.request('/v1/validators/v1', { headers: await operatorHeaders(b, 'GET', '/v1/validators/v1') });
    expect(((await shown.json()) as { pendingPromotion: object }).pendingPromotion).not.toHaveProperty('proposerPrincipals');
    const body = JSON.stringify({ slot: slot1, reason: 'agreed' });
    expect((await send(b, await carol.token('POST', promotePath, b.clock.now(), { body }), body)).status).toBe(200);
    expect(testAudience).toBe('keyhold-test');
  });
});
