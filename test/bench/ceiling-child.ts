// The ceiling the broker is measured against: a Hono app on the same Node
// server that, per request, does exactly the cryptography of a grant (verify
// the RS256 pod token against the dev issuer's JWKS, import the pod's
// ephemeral key, sign an EdDSA grant, encrypt the key material as a JWE) or of
// a renewal (verify the pod token, verify the presented grant, sign a new one),
// and nothing else: no policy, no store, no ledger. It takes the very requests
// the broker takes (same tokens, same bodies, same load generator), so
// broker ÷ ceiling is what the broker's own work costs, with both cores and
// libuv's thread pool available to both.

import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { CompactEncrypt, SignJWT, createLocalJWKSet, generateKeyPair, importJWK, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import { devCluster, homeFiles } from '../../src/identity/dev-credentials';
import { serializeKeyMaterial } from '../../src/core/key-material';
import { generatedKeyMaterial } from '../support/fixtures';
import { serveOnLoopback } from './child-guard';

const home = process.env['KEYHOLD_HOME'];
if (!home) throw new Error('ceiling-child needs KEYHOLD_HOME (for the dev issuer JWKS)');
const jwks = createLocalJWKSet(JSON.parse(readFileSync(homeFiles(home).devIssuerJwks, 'utf8')) as JSONWebKeySet);
const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
// A real keystore and password, so the JWE is as large as the broker's.
const material = generatedKeyMaterial().material;
const tokenOptions = { algorithms: ['RS256'], issuer: devCluster.issuer, audience: 'keyhold', requiredClaims: ['exp', 'sub', 'iat'], maxTokenAge: 3600, clockTolerance: 5 };

const bearer = (h: string | undefined) => (h?.startsWith('Bearer ') ? h.slice(7) : '');

async function sign(validator: string, podUid: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ slot: `local/validators/${validator}-0`, pod_uid: podUid, epoch: 1 })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'ceiling', typ: 'keyhold-grant+jwt' })
    .setIssuer('keyhold')
    .setSubject(validator)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .setJti(randomUUID())
    .sign(signing.privateKey);
}

const podUidOf = (payload: Record<string, unknown>) => String((payload['kubernetes.io'] as { pod?: { uid?: string } } | undefined)?.pod?.uid ?? '');

const app = new Hono();
app.post('/v1/grants', async (c) => {
  const body = await c.req.json<{ validator: string; ephemeralKey: JWK }>();
  const { payload } = await jwtVerify(bearer(c.req.header('authorization')), jwks, tokenOptions);
  const recipient = await importJWK(body.ephemeralKey, 'ECDH-ES+A256KW');
  const grant = await sign(body.validator, podUidOf(payload));
  const inner = serializeKeyMaterial(material);
  const key = await new CompactEncrypt(Buffer.concat([Buffer.from('{"material":'), inner, Buffer.from(',"slashingProtection":null}')]))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'keyhold-key+json', kid: `${body.validator}@1` })
    .encrypt(recipient);
  return c.json({ grant, key }, 201);
});
app.post('/v1/grants/renew', async (c) => {
  const body = await c.req.json<{ grant: string }>();
  const { payload } = await jwtVerify(bearer(c.req.header('authorization')), jwks, tokenOptions);
  const old = await jwtVerify(body.grant, signing.publicKey, { algorithms: ['EdDSA'], issuer: 'keyhold', typ: 'keyhold-grant+jwt' });
  return c.json({ grant: await sign(String(old.payload.sub), podUidOf(payload)) });
});

serveOnLoopback(app.fetch);
