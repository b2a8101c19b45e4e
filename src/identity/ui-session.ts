// The timeline page's login: an operator (through the CLI's own credential)
// asks for a one-time login code; the page trades it, once, for a session
// that can only read the audit routes. Both are tokens the broker signs with
// its own type, so every replica that holds the signing key can check them
// and a grant, a statement or a session can never pass for a login code.

import { randomUUID } from 'node:crypto';
import { errors as joseErrors, decodeProtectedHeader } from 'jose';
import { KeyholdError } from '../core/errors';
import type { GrantSigner } from '../grants/signer';
import type { Operator } from './operator-token';

export const loginCodeType = 'keyhold-ui-login+jwt';
export const uiSessionType = 'keyhold-ui-session+jwt';
/** Long enough to open a browser, short enough that a code in a shell history is dead. */
export const loginCodeTtlMs = 60_000;
export const uiSessionTtlMs = 15 * 60_000;

/**
 * Claims a login code's id once. The one place single use is decided, so it
 * can move to a record in the state store shared by every replica; until
 * then it is per broker instance (see `memoryOneTimeUse`).
 */
export interface OneTimeUse {
  /** True the first time `id` is claimed; `expiresAt` (ms) is when it may be forgotten. */
  claim(id: string, expiresAt: number, now: number): Promise<boolean>;
}

/**
 * Per process: with several replicas, one code could be traded once on each
 * within its minute. Full of live codes, it refuses rather than forget one
 * that could then be traded again.
 */
export function memoryOneTimeUse(max = 10_000): OneTimeUse {
  const seen = new Map<string, number>();
  return {
    async claim(id, expiresAt, now) {
      for (const [k, exp] of seen) if (exp <= now) seen.delete(k);
      if (seen.has(id) || seen.size >= max) return false;
      seen.set(id, expiresAt);
      return true;
    },
  };
}

export interface UiSession {
  readonly token: string;
  /** ms */
  readonly expiresAt: number;
  readonly operator: string;
}

/** A session reads the audit routes as a viewer named after the operator who asked for the code. */
export const sessionOperator = (name: string): Operator => ({ name: `ui:${name}`, role: 'viewer', principals: [] });

export const isUiSessionToken = (token: string): boolean => {
  try {
    return decodeProtectedHeader(token).typ === uiSessionType;
  } catch {
    return false;
  }
};

/**
 * Single use across every broker replica: the state store's one conditional
 * write (StateStore.useTokenOnce), as for operator request tokens. A store
 * that cannot record it refuses the trade (503) rather than let a code be
 * traded twice.
 */
export function storeOneTimeUse(useTokenOnce: (id: string, expiresAt: number, now: number, attempt: string) => Promise<boolean>): OneTimeUse {
  return {
    async claim(id, expiresAt, now) {
      try {
        return await useTokenOnce(`uilogin_${id}`, expiresAt, now, randomUUID());
      } catch {
        throw new KeyholdError('state_store_unavailable');
      }
    },
  };
}

/** JWT times are whole seconds: say the expiry the token carries. */
const wholeSeconds = (ms: number) => Math.floor(ms / 1000) * 1000;

export class UiLogin {
  constructor(
    private readonly signer: GrantSigner,
    private readonly once: OneTimeUse = memoryOneTimeUse(),
  ) {}

  async issueCode(op: Operator, now: number): Promise<{ code: string; expiresAt: number }> {
    const expiresAt = wholeSeconds(now + loginCodeTtlMs);
    return { code: await this.signer.signTyped(loginCodeType, { sub: op.name }, now, expiresAt), expiresAt };
  }

  /** Forged before expired before used: nothing is claimed for a code the broker did not sign. */
  async redeem(code: string, now: number): Promise<UiSession> {
    let payload;
    try {
      payload = await this.signer.verifyTyped(loginCodeType, code, now);
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new KeyholdError('login_code_expired');
      throw new KeyholdError('login_code_invalid');
    }
    const { sub, jti, exp } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') throw new KeyholdError('login_code_invalid');
    if (!(await this.once.claim(jti, exp * 1000, now))) throw new KeyholdError('login_code_used');
    const expiresAt = wholeSeconds(now + uiSessionTtlMs);
    return { token: await this.signer.signTyped(uiSessionType, { sub }, now, expiresAt), expiresAt, operator: sub };
  }

  async verifySession(token: string, now: number): Promise<Operator> {
    try {
      const { sub } = await this.signer.verifyTyped(uiSessionType, token, now);
      if (typeof sub !== 'string') throw new KeyholdError('unauthenticated');
      return sessionOperator(sub);
    } catch {
      throw new KeyholdError('unauthenticated');
    }
  }
}
