// Operator credentials: Ed25519 operator keys that sign short-lived request
// JWTs bound to the method and path, or OIDC tokens from a configured issuer
// with a role claim. Either way the broker learns a name and a role.

import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK, type JWTVerifyGetKey, type CryptoKey } from 'jose';
import { KeyholdError } from '../core/errors';

export type OperatorRole = 'viewer' | 'operator';
export const operatorAudience = 'keyhold-operator';
/** Request JWTs live this long at most, so a stolen one is useless soon. */
export const maxOperatorTokenSeconds = 300;

export interface OperatorKey {
  readonly name: string;
  readonly role: OperatorRole;
  readonly publicJwk: JWK;
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
}

const roleRank: Record<OperatorRole, number> = { viewer: 1, operator: 2 };
export const hasRole = (op: Operator, needed: OperatorRole): boolean => roleRank[op.role] >= roleRank[needed];

/**
 * Request JWTs already used, until they expire: a replayed `promote` would
 * raise the epoch again. Bounded (oldest dropped first); per broker instance,
 * so with several replicas a replay could still reach another one within the
 * token's short life.
 */
class SeenTokens {
  private readonly expiries = new Map<string, number>();
  constructor(private readonly max = 100_000) {}

  /** True the first time `id` is seen while unexpired. */
  claim(id: string, expiresAt: number, now: number): boolean {
    for (const [k, exp] of this.expiries) {
      if (exp > now - 10_000 && this.expiries.size < this.max) break;
      this.expiries.delete(k);
    }
    if (this.expiries.has(id)) return false;
    this.expiries.set(id, expiresAt);
    return true;
  }
}

export class OperatorVerifier {
  private readonly seen = new SeenTokens();
  private readonly keys = new Map<string, { key: OperatorKey; crypto: Promise<CryptoKey> }>();
  private readonly oidc: { config: OidcOperatorConfig; keys: JWTVerifyGetKey } | undefined;

  constructor(keys: readonly OperatorKey[], oidc?: OidcOperatorConfig) {
    for (const k of keys) {
      if (k.publicJwk.kty !== 'OKP' || k.publicJwk.crv !== 'Ed25519' || 'd' in k.publicJwk) {
        throw new TypeError(`operator ${k.name}: key must be a public Ed25519 JWK`);
      }
      this.keys.set(k.name, { key: k, crypto: importJWK(k.publicJwk, 'EdDSA') as Promise<CryptoKey> });
    }
    if (oidc) {
      const jwks = oidc.jwks ? createLocalJWKSet(oidc.jwks) : oidc.jwksUri ? createRemoteJWKSet(new URL(oidc.jwksUri)) : undefined;
      if (!jwks) throw new TypeError('the operator OIDC issuer needs jwksUri or jwks');
      this.oidc = { config: oidc, keys: jwks };
    }
  }

  /** `method` and `path` are the request's own: a token signed for one call does not authorise another. */
  async verify(token: string, request: { method: string; path: string }, now: number): Promise<Operator> {
    let iss: unknown;
    let alg: unknown;
    try {
      iss = decodeJwt(token).iss;
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new KeyholdError('unauthenticated');
    }
    try {
      if (this.oidc && iss === this.oidc.config.issuer) return await this.verifyOidc(token, now);
      const entry = typeof iss === 'string' && alg === 'EdDSA' ? this.keys.get(iss) : undefined;
      if (!entry) throw new KeyholdError('unauthenticated');
      const { payload } = await jwtVerify(token, await entry.crypto, {
        algorithms: ['EdDSA'],
        issuer: entry.key.name,
        audience: operatorAudience,
        currentDate: new Date(now),
        maxTokenAge: maxOperatorTokenSeconds,
        requiredClaims: ['iat', 'exp', 'htm', 'htu', 'jti'],
        clockTolerance: 5,
      });
      if (payload.htm !== request.method || payload.htu !== request.path) throw new KeyholdError('unauthenticated');
      if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > maxOperatorTokenSeconds) {
        throw new KeyholdError('unauthenticated');
      }
      if (typeof payload.jti !== 'string' || payload.jti.length > 128 || !this.seen.claim(`${entry.key.name}\0${payload.jti}`, payload.exp * 1000, now)) {
        throw new KeyholdError('unauthenticated');
      }
      return { name: entry.key.name, role: entry.key.role };
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('unauthenticated');
      throw e;
    }
  }

  private async verifyOidc(token: string, now: number): Promise<Operator> {
    const { config, keys } = this.oidc!;
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
      issuer: config.issuer,
      audience: config.audience,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'exp'],
      clockTolerance: 5,
    });
    const raw = payload[config.roleClaim];
    const roles = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[ ,]+/) : [];
    const role: OperatorRole | null = roles.includes('keyhold-operator') ? 'operator' : roles.includes('keyhold-viewer') ? 'viewer' : null;
    if (!role || typeof payload.sub !== 'string') throw new KeyholdError('forbidden');
    return { name: `oidc:${payload.sub}`, role };
  }
}
