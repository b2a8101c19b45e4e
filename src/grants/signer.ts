// The broker's grant signer. Several Ed25519 keys may be published at once
// (rotation): one signs, the others only verify until every grant they signed
// has expired. Verification pins EdDSA, the issuer and the grant type, so no
// other JWT the broker or a cluster ever issued can pass for a grant.

import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, errors as joseErrors, exportJWK, importJWK, jwtVerify, type JSONWebKeySet, type JWSHeaderParameters, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { KeyholdError } from '../core/errors';
import type { GrantClaims } from '../core/designation';

export const grantIssuer = 'keyhold';
export const grantType = 'keyhold-grant+jwt';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  /** Imported once: every renewal verifies a grant, and importing per call showed in profiles. */
  readonly publicKey: CryptoKey;
}

export interface IssuedGrant {
  readonly token: string;
  readonly claims: GrantClaims;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

export async function signingKeyFromJwk(jwk: JWK): Promise<SigningKey> {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') {
    throw new TypeError('a broker signing key must be a private Ed25519 JWK with a kid');
  }
  const privateKey = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  const { d: _d, ...publicPart } = jwk;
  const publicJwk: JWK = { ...publicPart, alg: 'EdDSA', use: 'sig' };
  const publicKey = (await importJWK(publicJwk, 'EdDSA')) as CryptoKey;
  return { kid: jwk.kid, privateKey, publicJwk, publicKey };
}

export async function generateSigningJwk(kid: string = randomUUID()): Promise<JWK> {
  const { generateKeyPair } = await import('jose');
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' };
}

const statementChecks = { algorithms: ['EdDSA'], issuer: grantIssuer, typ: 'keyhold-statement+jwt' };

export type StatementVerifier = (token: string) => Promise<JWTPayload>;

/** Statements checked with only the broker's published JWKS: an auditor's machine, offline. */
export function jwksStatementVerifier(jwks: JSONWebKeySet): StatementVerifier {
  const keys = createLocalJWKSet(jwks);
  return async (token) => (await jwtVerify(token, keys, statementChecks)).payload;
}

/** The checkpoint's signature is a statement by a broker key over exactly its digest. */
export async function checkpointSigned(verify: StatementVerifier, c: { readonly digest: string; readonly signature: string }): Promise<boolean> {
  try {
    return (await verify(c.signature)).checkpoint === c.digest;
  } catch {
    return false;
  }
}

export class GrantSigner {
  private readonly byKid: Map<string, SigningKey>;

  /** `active` signs; `previous` keys verify only. */
  constructor(
    private readonly active: SigningKey,
    previous: readonly SigningKey[] = [],
  ) {
    this.byKid = new Map([active, ...previous].map((k) => [k.kid, k]));
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.byKid.values()].map((k) => k.publicJwk) };
  }

  /** `now` and `exp` in ms; JWT times are whole seconds. */
  async sign(claims: GrantClaims, now: number, exp: number): Promise<IssuedGrant> {
    const jti = randomUUID();
    // The holder counts exp - iat from when it sent its request, so both
    // roundings must shorten the lifetime: iat up, exp down.
    const iat = Math.ceil(now / 1000);
    const expS = Math.floor(exp / 1000);
    const token = await new SignJWT({ slot: claims.slot, pod_uid: claims.podUid, epoch: claims.epoch })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.active.kid, typ: grantType })
      .setIssuer(grantIssuer)
      .setSubject(claims.validator)
      .setIssuedAt(iat)
      .setExpirationTime(expS)
      .setJti(jti)
      .sign(this.active.privateKey);
    return { token, claims, iat, exp: expS, jti };
  }

  /** Sign any other broker statement (checkpoints) with the active key. */
  async signStatement(payload: JWTPayload, now: number): Promise<string> {
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: this.active.kid, typ: 'keyhold-statement+jwt' })
      .setIssuer(grantIssuer)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(this.active.privateKey);
  }

  async verifyStatement(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, (h: JWSHeaderParameters) => this.keyFor(h.kid), statementChecks);
    return payload;
  }

  /**
   * A short-lived broker token of another kind (the timeline page's login
   * codes and sessions). Its own `typ` keeps it from passing for a grant or a
   * statement, and theirs from passing for it. `now` and `exp` in ms.
   */
  async signTyped(typ: string, payload: JWTPayload, now: number, exp: number): Promise<string> {
    if (typ === grantType || typ === statementChecks.typ) throw new TypeError(`${typ} is reserved`);
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: this.active.kid, typ })
      .setIssuer(grantIssuer)
      .setIssuedAt(Math.ceil(now / 1000))
      .setExpirationTime(Math.floor(exp / 1000))
      .setJti(randomUUID())
      .sign(this.active.privateKey);
  }

  /** The payload of a token that signTyped made with this `typ`; jose's errors pass through, so callers tell expired from forged. */
  async verifyTyped(typ: string, token: string, now: number): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, (h: JWSHeaderParameters) => this.keyFor(h.kid), {
      algorithms: ['EdDSA'],
      issuer: grantIssuer,
      typ,
      currentDate: new Date(now),
      requiredClaims: ['exp', 'iat', 'jti'],
    });
    return payload;
  }

  private async keyFor(kid: string | undefined): Promise<CryptoKey> {
    const k = kid === undefined ? undefined : this.byKid.get(kid);
    if (!k) throw new KeyholdError('invalid_grant');
    return k.publicKey;
  }

  /**
   * Verify a grant's signature and shape. Expiry is checked against `now`
   * only when `allowExpired` is false: a fenced holder acknowledges with a
   * grant that may have expired, and that is still its proof of identity.
   */
  async verify(token: string, now: number, opts: { allowExpired?: boolean } = {}): Promise<IssuedGrant> {
    try {
      const { payload } = await jwtVerify(token, (h) => this.keyFor(h.kid), {
        algorithms: ['EdDSA'],
        issuer: grantIssuer,
        typ: grantType,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        ...(opts.allowExpired ? { clockTolerance: Number.MAX_SAFE_INTEGER } : {}),
      });
      const { sub, slot, pod_uid: podUid, epoch, iat, exp, jti } = payload;
      if (
        typeof sub !== 'string' ||
        typeof slot !== 'string' ||
        typeof podUid !== 'string' ||
        !Number.isSafeInteger(epoch) ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        typeof jti !== 'string'
      ) {
        throw new KeyholdError('invalid_grant');
      }
      return { token, claims: { validator: sub, slot, podUid, epoch: epoch as number }, iat, exp, jti };
    } catch (e) {
      if (e instanceof KeyholdError) throw e;
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('invalid_grant');
      throw e;
    }
  }
}
