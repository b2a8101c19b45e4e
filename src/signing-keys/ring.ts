// The broker's grant-signing key ring as it is kept in a cloud secret:
// `{"keys":[<private Ed25519 JWK with kid>, ...]}`, the first key signs, the
// others only verify grants they signed until those expire.
//
// Functions read the ring when they start and again every refresh interval
// (KEYHOLD_SIGNING_KEY_REFRESH_SECONDS, default 300), so a rotation is a
// change of the secret, not a redeploy. The procedure is in README.md
// ("Rotating the broker signing key"); it relies on this interval being the
// longest any instance keeps an old ring while the secret can be read.
//
// A refresh that fails (store down, secret malformed) keeps the ring the
// instance already has: an old ring can only refuse grants signed by a key it
// does not know yet, which costs a renewal, never a second holder.

import type { JWK, JWTPayload } from 'jose';
import { ConfigError, type Env } from '../config';
import { GrantSigner, signingKeyFromJwk, type IssuedGrant, type SigningKey } from '../grants/signer';
import type { GrantClaims } from '../core/designation';
import type { Logger } from '../log';
import type { Clock } from '../ports';

export const signingKeySetting = 'KEYHOLD_SIGNING_KEY_SECRET';
export const refreshSetting = 'KEYHOLD_SIGNING_KEY_REFRESH_SECONDS';
export const defaultRefreshSeconds = 300;
/** After a failed refresh, try again this soon rather than on every request. */
const retryAfterFailureMs = 30_000;

/** Reads the current ring from wherever it is kept; throws ConfigError when the value is unusable. */
export type RingReader = () => Promise<readonly JWK[]>;

/** Parse a secret value into a ring, refusing anything that is not a usable one. Never echoes the value. */
export function parseSigningKeyRing(value: string, source: string): JWK[] {
  const refuse = (why: string): never => {
    throw new ConfigError(`${signingKeySetting}: ${source} ${why}; it must hold {"keys":[<private Ed25519 JWK with kid>, ...]}, the first key active`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return refuse('is not JSON');
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return refuse('has no "keys" list');
  const kids = new Set<string>();
  for (const [i, k] of keys.entries()) {
    const jwk = k as JWK | null;
    if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
      return refuse(`key ${i} is not a private Ed25519 JWK`);
    }
    if (typeof jwk.kid !== 'string' || jwk.kid === '') return refuse(`key ${i} has no kid`);
    // Grants name their key by kid: two keys with one kid would make one unverifiable.
    if (kids.has(jwk.kid)) return refuse(`lists kid "${jwk.kid}" twice`);
    kids.add(jwk.kid);
  }
  return keys as JWK[];
}

async function toSigningKeys(ring: readonly JWK[], source: string): Promise<[SigningKey, ...SigningKey[]]> {
  try {
    const keys = await Promise.all(ring.map(signingKeyFromJwk));
    if (keys.length === 0) throw new TypeError('no keys');
    return keys as [SigningKey, ...SigningKey[]];
  } catch {
    throw new ConfigError(`${signingKeySetting}: ${source} holds a key that cannot be imported as a private Ed25519 JWK`);
  }
}

export function parseRefreshMs(env: Env): number {
  const raw = env[refreshSetting];
  if (raw === undefined || raw === '') return defaultRefreshSeconds * 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 3600) throw new ConfigError(`${refreshSetting} must be a whole number of seconds from 10 to 3600, got "${raw}"`);
  return n * 1000;
}

export interface RefreshOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly refreshMs: number;
  /** Names the secret in messages (an ARN or resource name: not secret). */
  readonly source: string;
}

/**
 * A GrantSigner whose ring is re-read every `refreshMs`. The check runs
 * before each signature or verification, so an instance that was idle (a
 * frozen Lambda) reads the ring before it answers, not some time after; the
 * request that finds the ring due waits for one secret read, concurrent ones
 * share it.
 */
export class RefreshingGrantSigner extends GrantSigner {
  private ring: GrantSigner;
  private kids: readonly string[];
  private due: number;
  private inFlight: Promise<void> | undefined;

  private constructor(
    keys: [SigningKey, ...SigningKey[]],
    private readonly read: RingReader,
    private readonly opts: RefreshOptions,
  ) {
    const [active, ...previous] = keys;
    super(active, previous);
    this.ring = new GrantSigner(active, previous);
    this.kids = keys.map((k) => k.kid);
    this.due = opts.clock.now() + opts.refreshMs;
  }

  /** Read the ring once; a ring that cannot be used refuses the start with a ConfigError. */
  static async start(read: RingReader, opts: RefreshOptions): Promise<RefreshingGrantSigner> {
    return new RefreshingGrantSigner(await toSigningKeys(await read(), opts.source), read, opts);
  }

  /** The kid that signs now, for logs and tests. */
  activeKid(): string {
    return this.kids[0]!;
  }

  private async current(): Promise<GrantSigner> {
    if (this.opts.clock.now() >= this.due) {
      this.inFlight ??= this.refresh().finally(() => {
        this.inFlight = undefined;
      });
      await this.inFlight;
    }
    return this.ring;
  }

  private async refresh(): Promise<void> {
    const { clock, logger, refreshMs, source } = this.opts;
    try {
      const keys = await toSigningKeys(await this.read(), source);
      const kids = keys.map((k) => k.kid);
      const [active, ...previous] = keys;
      this.ring = new GrantSigner(active, previous);
      if (kids.join('\n') !== this.kids.join('\n')) logger.log('info', 'signing_keys_changed', { activeKid: active.kid, kids, previousKids: this.kids });
      this.kids = kids;
      this.due = clock.now() + refreshMs;
    } catch (e) {
      this.due = clock.now() + Math.min(retryAfterFailureMs, refreshMs);
      logger.log('warn', 'signing_keys_refresh_failed', {
        kept: this.kids,
        ...(e instanceof ConfigError ? { reason: e.message } : { error: e }),
      });
    }
  }

  override jwks(): { keys: JWK[] } {
    return this.ring.jwks();
  }

  override async sign(claims: GrantClaims, now: number, exp: number): Promise<IssuedGrant> {
    return (await this.current()).sign(claims, now, exp);
  }

  override async signStatement(payload: JWTPayload, now: number): Promise<string> {
    return (await this.current()).signStatement(payload, now);
  }

  override async verifyStatement(token: string): Promise<JWTPayload> {
    return (await this.current()).verifyStatement(token);
  }

  override async verify(token: string, now: number, opts: { allowExpired?: boolean } = {}): Promise<IssuedGrant> {
    return (await this.current()).verify(token, now, opts);
  }
}
