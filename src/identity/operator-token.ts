// Operator credentials: Ed25519 operator keys that sign short-lived request
// JWTs bound to the whole request (method, path and query, a hash of the
// body, and this deployment's audience) and usable once across every
// replica, or OIDC tokens from a configured issuer with a role claim. An
// OIDC token is a bearer token: on a route that changes anything it needs a
// DPoP proof (RFC 9449) from the key the token is bound to (`cnf.jkt`),
// carrying the same binding (htm, htu, ath, jti, and `body_sha256`).
// Either way the broker learns a name, a role and the principals behind it.

import { createHash, randomUUID } from 'node:crypto';
import {
  EmbeddedJWK,
  calculateJwkThumbprint,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  importJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type CryptoKey,
} from 'jose';
import { KeyholdError, type ErrorCode } from '../core/errors';

export type OperatorRole = 'viewer' | 'operator';
/** Request JWTs live this long at most, so a stolen one is useless soon. */
export const maxOperatorTokenSeconds = 300;
/** The `typ` header of operator request tokens. */
export const operatorTokenType = 'keyhold-operator+jwt';
/** Clock difference tolerated between the CLI and the broker (s). */
export const operatorClockToleranceSeconds = 5;

export interface OperatorKey {
  readonly name: string;
  readonly role: OperatorRole;
  readonly publicJwk: JWK;
  /**
   * The OIDC subject of the same person, when they also log in through the
   * issuer: their key and their login then count as one approver.
   */
  readonly subject?: string;
}

export interface OidcOperatorConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUri?: string;
  readonly jwks?: { keys: JWK[] };
  /** Claim holding a list or a string of roles, e.g. `keyhold_roles`. */
  readonly roleClaim: string;
}

export interface Operator {
  readonly name: string;
  readonly role: OperatorRole;
  /**
   * Who is behind the credential: `jwk:<RFC 7638 thumbprint>` of an operator
   * key, `oidc:<subject>`. Two approvals that share one are one approver.
   */
  readonly principals: readonly string[];
}

/** The request a token must match: what the broker itself received. */
export interface OperatorRequest {
  readonly method: string;
  /** Path and query, as received (`/v1/audit?validator=v1`). */
  readonly path: string;
  /** The exact body bytes; empty for none. */
  readonly body: Uint8Array;
  /** The route changes state: an OIDC token needs a DPoP proof on it. */
  readonly mutating: boolean;
  /** The `DPoP` header, if any. */
  readonly dpop?: string;
}

/** DPoP proofs are fresh: this old at most (s), as request tokens are short. */
export const maxDpopProofSeconds = 60;

const roleRank: Record<OperatorRole, number> = { viewer: 1, operator: 2 };
export const hasRole = (op: Operator, needed: OperatorRole): boolean => roleRank[op.role] >= roleRank[needed];

/** SHA-256 of the exact body bytes, base64url: the `body_sha256` claim. */
export const bodyHash = (body: Uint8Array | string): string => createHash('sha256').update(body).digest('base64url');

/** The request token's audience by default: a thumbprint of the broker's signing key, so two deployments never share one. */
export async function derivedOperatorAudience(signingJwk: JWK): Promise<string> {
  return `keyhold:${await calculateJwkThumbprint(signingJwk, 'sha256')}`;
}

/**
 * A refusal of a token that is genuinely signed by a known operator key but
 * does not fit this request or was used before: the caller ledgers it.
 */
export class OperatorTokenRefusal extends KeyholdError {
  constructor(
    code: Extract<ErrorCode, 'token_replayed' | 'token_mismatch' | 'token_expired'>,
    readonly operator: string,
    readonly detail: string,
    /** The token's id as stored (a hash of the operator and its jti), or null when it could not be read. */
    readonly tokenId: string | null,
  ) {
    super(code);
    this.name = 'OperatorTokenRefusal';
  }
}

/** The id a request token is used once under: the operator's name and its jti, hashed to fit every store's key rules. */
const tokenIdOf = (operator: string, jti: string): string => createHash('sha256').update(`${operator}\0${jti}`).digest('base64url');

async function embeddedThumbprint(jws: string): Promise<string | null> {
  try {
    const jwk = decodeProtectedHeader(jws).jwk;
    return jwk ? await calculateJwkThumbprint(jwk, 'sha256') : null;
  } catch {
    return null;
  }
}

export interface OperatorVerifierOptions {
  /** Audiences a request token may carry: this deployment's. */
  readonly audiences: () => Promise<ReadonlySet<string>>;
  /** The state store's one conditional write (StateStore.useTokenOnce), retried by the store with the same attempt id. */
  readonly useTokenOnce: (id: string, expiresAt: number, now: number, attempt: string) => Promise<boolean>;
}

export class OperatorVerifier {
  private readonly keys = new Map<string, { key: OperatorKey; crypto: Promise<CryptoKey>; principals: Promise<string[]> }>();
  private readonly oidc: { config: OidcOperatorConfig; keys: JWTVerifyGetKey } | undefined;

  constructor(
    keys: readonly OperatorKey[],
    oidc: OidcOperatorConfig | undefined,
    private readonly opts: OperatorVerifierOptions,
  ) {
    for (const k of keys) {
      if (k.publicJwk.kty !== 'OKP' || k.publicJwk.crv !== 'Ed25519' || 'd' in k.publicJwk) {
        throw new TypeError(`operator ${k.name}: key must be a public Ed25519 JWK`);
      }
      if (k.subject !== undefined && (typeof k.subject !== 'string' || k.subject === '')) throw new TypeError(`operator ${k.name}: subject must be the owner's OIDC subject (a non-empty string)`);
      const principals = calculateJwkThumbprint(k.publicJwk, 'sha256').then((t) => [`jwk:${t}`, ...(k.subject ? [`oidc:${k.subject}`] : [])]);
      // Not awaited here: a rejection would surface on first use, unhandled until then.
      principals.catch(() => undefined);
      this.keys.set(k.name, { key: k, crypto: importJWK(k.publicJwk, 'EdDSA') as Promise<CryptoKey>, principals });
    }
    if (oidc) {
      const jwks = oidc.jwks ? createLocalJWKSet(oidc.jwks) : oidc.jwksUri ? createRemoteJWKSet(new URL(oidc.jwksUri)) : undefined;
      if (!jwks) throw new TypeError('the operator OIDC issuer needs jwksUri or jwks');
      this.oidc = { config: oidc, keys: jwks };
    }
  }

  /**
   * Checks, in order: a known issuer and a valid signature (else 401
   * `unauthenticated`, nothing ledgered: anyone can send garbage); then, the
   * token being genuine, its lifetime (`token_expired`), its audience,
   * method, path and body (`token_mismatch`), and that its id was never used
   * on any replica (`token_replayed`). Those three are OperatorTokenRefusal.
   */
  async verify(token: string, request: OperatorRequest, now: number): Promise<Operator> {
    let iss: unknown;
    let alg: unknown;
    try {
      iss = decodeJwt(token).iss;
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new KeyholdError('unauthenticated');
    }
    if (this.oidc && iss === this.oidc.config.issuer) {
      const { op, cnf } = await this.verifyOidc(token, now);
      if (!request.mutating) return op;
      const jkt = await this.verifyDpop(op.name, token, cnf, request, now);
      return { ...op, principals: [...op.principals, `jwk:${jkt}`] };
    }
    const entry = typeof iss === 'string' && alg === 'EdDSA' ? this.keys.get(iss) : undefined;
    if (!entry) throw new KeyholdError('unauthenticated');
    const name = entry.key.name;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await entry.crypto, {
        algorithms: ['EdDSA'],
        // Explicitly typed (RFC 8725 3.11): no other JWT the operator's key signs passes for a request token.
        typ: operatorTokenType,
        issuer: name,
        currentDate: new Date(now),
        maxTokenAge: maxOperatorTokenSeconds,
        requiredClaims: ['iat', 'exp', 'aud', 'htm', 'htu', 'body_sha256', 'jti'],
        clockTolerance: operatorClockToleranceSeconds,
      }));
    } catch (e) {
      // Thrown only after the signature verified: the token is the operator's own.
      if (e instanceof joseErrors.JWTExpired) throw new OperatorTokenRefusal('token_expired', name, 'exp', typeof e.payload.jti === 'string' ? tokenIdOf(name, e.payload.jti) : null);
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('unauthenticated');
      throw e;
    }
    const { exp, iat, jti } = payload;
    if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > maxOperatorTokenSeconds) throw new KeyholdError('unauthenticated');
    if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128) throw new KeyholdError('unauthenticated');
    const id = tokenIdOf(name, jti);
    const audiences = await this.opts.audiences();
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (aud.length !== 1 || typeof aud[0] !== 'string' || !audiences.has(aud[0])) throw new OperatorTokenRefusal('token_mismatch', name, 'aud', id);
    if (payload.htm !== request.method) throw new OperatorTokenRefusal('token_mismatch', name, 'htm', id);
    if (payload.htu !== request.path) throw new OperatorTokenRefusal('token_mismatch', name, 'htu', id);
    if (payload.body_sha256 !== bodyHash(request.body)) throw new OperatorTokenRefusal('token_mismatch', name, 'body_sha256', id);
    // Kept past exp by the tolerance the expiry check allows, so no replica accepts it again while it could still pass.
    if (!(await this.opts.useTokenOnce(id, (exp + operatorClockToleranceSeconds) * 1000 + 1000, now, randomUUID()))) throw new OperatorTokenRefusal('token_replayed', name, 'jti', id);
    return { name, role: entry.key.role, principals: await entry.principals };
  }

  /**
   * RFC 9449: the proof is signed by the key the access token names in
   * `cnf.jkt` (a token bound to no key, or a request without a proof, is
   * 403 `signed_request_required`), for this method and path, this token
   * (`ath`), this body (`body_sha256`), recently, and once (its `jti`).
   * Returns the key's thumbprint.
   */
  private async verifyDpop(name: string, token: string, cnf: string | null, request: OperatorRequest, now: number): Promise<string> {
    if (cnf === null || request.dpop === undefined) throw new KeyholdError('signed_request_required');
    let payload: JWTPayload;
    let jkt: string;
    try {
      const verified = await jwtVerify(request.dpop, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: ['EdDSA', 'ES256', 'RS256', 'PS256'],
        currentDate: new Date(now),
        maxTokenAge: maxDpopProofSeconds,
        requiredClaims: ['iat', 'jti', 'htm', 'htu', 'ath', 'body_sha256'],
        clockTolerance: operatorClockToleranceSeconds,
      });
      payload = verified.payload;
      jkt = await calculateJwkThumbprint(verified.protectedHeader.jwk!, 'sha256');
    } catch (e) {
      // Verified, but old: ledgered only when it is the bound key's own (anyone can sign an old proof with some key).
      if (e instanceof joseErrors.JWTExpired && (await embeddedThumbprint(request.dpop)) === cnf) {
        throw new OperatorTokenRefusal('token_expired', name, 'dpop_iat', typeof e.payload.jti === 'string' ? tokenIdOf(`dpop:${name}`, e.payload.jti) : null);
      }
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('unauthenticated');
      throw e;
    }
    // A proof by another key than the token's is no proof of holding it: as if there were none.
    if (jkt !== cnf) throw new KeyholdError('signed_request_required');
    const { jti, iat } = payload;
    if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128 || typeof iat !== 'number') throw new KeyholdError('unauthenticated');
    const id = tokenIdOf(`dpop:${name}`, jti);
    let htuPath: string | null = null;
    try {
      htuPath = typeof payload.htu === 'string' ? new URL(payload.htu).pathname : null;
    } catch {
      htuPath = null;
    }
    // htu carries no query (RFC 9449 4.2); the path is compared, the deployment is the token's own audience.
    if (payload.ath !== bodyHash(token)) throw new OperatorTokenRefusal('token_mismatch', name, 'ath', id);
    if (payload.htm !== request.method) throw new OperatorTokenRefusal('token_mismatch', name, 'htm', id);
    if (htuPath !== request.path.split('?')[0]) throw new OperatorTokenRefusal('token_mismatch', name, 'htu', id);
    if (payload.body_sha256 !== bodyHash(request.body)) throw new OperatorTokenRefusal('token_mismatch', name, 'body_sha256', id);
    if (!(await this.opts.useTokenOnce(id, (iat + maxDpopProofSeconds + 2 * operatorClockToleranceSeconds) * 1000 + 1000, now, randomUUID()))) throw new OperatorTokenRefusal('token_replayed', name, 'jti', id);
    return jkt;
  }

  private async verifyOidc(token: string, now: number): Promise<{ op: Operator; cnf: string | null }> {
    const { config, keys } = this.oidc!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
        issuer: config.issuer,
        audience: config.audience,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'exp'],
        clockTolerance: operatorClockToleranceSeconds,
      }));
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('unauthenticated');
      throw e;
    }
    const raw = payload[config.roleClaim];
    const roles = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[ ,]+/) : [];
    const role: OperatorRole | null = roles.includes('keyhold-operator') ? 'operator' : roles.includes('keyhold-viewer') ? 'viewer' : null;
    if (!role || typeof payload.sub !== 'string') throw new KeyholdError('forbidden');
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    return { op: { name: `oidc:${payload.sub}`, role, principals: [`oidc:${payload.sub}`] }, cnf: typeof cnf?.jkt === 'string' ? cnf.jkt : null };
  }
}
