// The timeline page's login, in process: an operator's one-time code, traded
// once for a session that reads the audit routes and nothing else, and the
// page's assets under their CSP.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { SignJWT, generateKeyPair } from 'jose';
import { loginCodeType } from '../../src/identity/ui-session';
import { ManualClock, testBroker, testOperator, testSigner, type TestBroker } from '../support/fixtures';
import { importValidator, operatorHeaders } from './helpers';

async function loginCode(b: TestBroker): Promise<string> {
  const path = '/v1/ui/login-codes';
  const res = await b.app.request(path, { method: 'POST', headers: await operatorHeaders(b, 'POST', path) });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { code: string; path: string; expiresAt: string };
  expect(body.path).toBe(`/ui#code=${body.code}`);
  expect(Date.parse(body.expiresAt) - b.clock.now()).toBeLessThanOrEqual(60_000);
  return body.code;
}

const trade = (b: TestBroker, code: unknown) =>
  b.app.request('/v1/ui/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });

const withBearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

async function session(b: TestBroker): Promise<string> {
  const res = await trade(b, await loginCode(b));
  expect(res.status).toBe(201);
  const body = (await res.json()) as { token: string; operator: string };
  expect(body.operator).toBe('alice');
  return body.token;
}

describe('timeline login codes', () => {
  it('trades a code once for a session that reads the ledger and the holders', async () => {
    const b = await testBroker();
    await importValidator(b);
    const token = await session(b);
    const page = await b.app.request('/v1/audit?validator=v1', withBearer(token));
    expect(page.status).toBe(200);
    expect(((await page.json()) as { entries: { action: string }[] }).entries.map((e) => e.action)).toEqual(['key_imported']);
    expect((await b.app.request('/v1/audit/holders?validator=v1', withBearer(token))).status).toBe(200);
  });

  it('refuses a used, an expired and a forged code with their codes, and grants nothing for them', async () => {
    const b = await testBroker();
    const code = await loginCode(b);
    expect((await trade(b, code)).status).toBe(201);
    const again = await trade(b, code);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'login_code_used' });

    const late = await loginCode(b);
    b.clock.advance(61_000);
    const expired = await trade(b, late);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toMatchObject({ code: 'login_code_expired' });

    // Signed by another broker's key, with the right type and claims.
    const other = await testSigner();
    const forged = await other.signTyped(loginCodeType, { sub: 'alice' }, b.clock.now(), b.clock.now() + 60_000);
    const f = await trade(b, forged);
    expect(f.status).toBe(401);
    expect(await f.json()).toMatchObject({ code: 'login_code_invalid' });
    // An operator's own request token is not a login code either.
    const op = await trade(b, await b.operator.token('POST', '/v1/ui/sessions', b.clock.now()));
    expect(await op.json()).toMatchObject({ code: 'login_code_invalid' });
    // Nor is a grant-shaped token from a stranger.
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const stranger = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'EdDSA', typ: loginCodeType }).setIssuer('keyhold').setIssuedAt().setExpirationTime('1m').setJti('x').sign(privateKey);
    expect(await (await trade(b, stranger)).json()).toMatchObject({ code: 'login_code_invalid' });
    expect(await (await trade(b, 'not a jwt')).json()).toMatchObject({ code: 'invalid_request' });
  });

  it('gives a session no reach beyond the audit reads, and none after it expires', async () => {
    const b = await testBroker();
    await importValidator(b);
    const token = await session(b);
    for (const [method, path] of [['GET', '/v1/validators'], ['GET', '/v1/validators/v1'], ['GET', '/v1/audit/export'], ['GET', '/v1/audit/verify'], ['POST', '/v1/audit/checkpoints'], ['POST', '/v1/ui/login-codes']] as const) {
      const res = await b.app.request(path, { method, ...withBearer(token) });
      expect([method, path, res.status]).toEqual([method, path, 401]);
    }
    // A session cannot be traded for another session, nor a code minted from it.
    expect(await (await trade(b, token)).json()).toMatchObject({ code: 'login_code_invalid' });
    b.clock.advance(15 * 60_000 + 1000);
    expect((await b.app.request('/v1/audit?validator=v1', withBearer(token))).status).toBe(401);
  });

  it('asks for an operator credential to mint a code; a viewer is enough', async () => {
    const viewer = await testOperator('vic', 'viewer');
    const b = await testBroker({ moreOperators: [viewer] });
    expect((await b.app.request('/v1/ui/login-codes', { method: 'POST' })).status).toBe(401);
    const path = '/v1/ui/login-codes';
    const res = await b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${await viewer.token('POST', path, b.clock.now())}` } });
    expect(res.status).toBe(201);
    const s = await trade(b, ((await res.json()) as { code: string }).code);
    expect(await s.json()).toMatchObject({ operator: 'vic' });
  });
});

describe('the timeline page assets', () => {
  it('serves the page, its script and style from this origin under a strict CSP', async () => {
    const b = await testBroker();
    for (const [path, type] of [['/ui', 'text/html'], ['/ui/timeline.js', 'text/javascript'], ['/ui/timeline.css', 'text/css']] as const) {
      const res = await b.app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(new RegExp(`^${type}`));
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const html = await (await b.app.request('/ui')).text();
    // Nothing from another origin, and no inline script the CSP would have to allow.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script [^>]*>[^<]/);
    expect(html).not.toMatch(/ style=/);
  });
});

describe('timeline login codes across replicas', () => {
  it('are traded once across broker instances sharing a state store, and not at all while it is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-ui-replicas-'));
    try {
      const file = join(dir, 'state.db');
      const clock = new ManualClock();
      const signer = await testSigner();
      const a = await testBroker({ clock, signer, state: new SqliteStateStore(file) });
      const b = await testBroker({ clock, signer, cluster: a.cluster, operator: a.operator, keyStores: [...a.parts.keyStores], state: new SqliteStateStore(file) });
      const code = await loginCode(a);
      expect((await trade(a, code)).status).toBe(201);
      const again = await trade(b, code);
      expect(again.status).toBe(409);
      expect(((await again.json()) as { code: string }).code).toBe('login_code_used');

      const second = await loginCode(a);
      await b.parts.state.close();
      const down = await trade(b, second);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { code: string }).code).toBe('state_store_unavailable');
      // Nothing was used up by the failed trade: the code still works where the store answers.
      expect((await trade(a, second)).status).toBe(201);
      await a.parts.state.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
