// The Vault token the key store uses: obtained by the configured auth method
// and renewed (auth/token/renew-self) before it expires, by the store's own
// clock so that tests move time instead of waiting. Renewal is checked before
// every call and by a slow background tick; once renewal can no longer extend
// the token (its max TTL is near), kubernetes and approle log in again, and a
// token file is read again.
//
// node-vault 0.12 is used for transport only (read/write with a per-call
// timeout). Its generated login helpers are avoided: kubernetesLogin without
// mount_point posts to /v1/auth//login (see test/emulators/vault/auth.test.ts).
// Never run the broker with DEBUG=node-vault: node-vault then prints request
// bodies, logins and key material included.

import { readFile } from 'node:fs/promises';
import type NodeVault from 'node-vault';
import { StoreError, type Clock } from '../../ports';
import type { VaultAuthSettings } from './settings';

interface AuthBlock {
  client_token?: unknown;
  lease_duration?: unknown;
  renewable?: unknown;
}

/** A failed authentication: the store's message names no secret and no server text. */
export class VaultAuthError extends StoreError {
  constructor(store: string, what: string, opts?: { cause?: unknown }) {
    super(store, what, opts);
    this.name = 'VaultAuthError';
  }
}

export class VaultSession {
  private ready = false;
  private expiresAt: number | null = null;
  private renewAt: number | null = null;
  /** The lease a fresh login gives, to tell a renewal that was capped by the max TTL. */
  private loginLeaseMs = 0;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly store: string,
    private readonly client: NodeVault.client,
    private readonly auth: VaultAuthSettings,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly readText: (path: string) => Promise<string> = async (p) => (await readFile(p, 'utf8')).trim(),
  ) {}

  /**
   * Whether a refused or expiring token can be replaced: by logging in again,
   * or by re-reading a token file that something else (Vault Agent's sink)
   * keeps fresh. A token given inline can only be renewed.
   */
  get canLogin(): boolean {
    return this.auth.kind !== 'token';
  }

  /** When the current token expires (ms), or null when it never does. */
  get expiry(): number | null {
    return this.expiresAt;
  }

  /** A token good for the next call: authenticate, renew or log in again as due. */
  async ensure(): Promise<void> {
    if (this.ready && (this.renewAt === null || this.clock.now() < this.renewAt)) return;
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The server refused the token (403): forget it, so the next ensure() authenticates afresh. */
  invalidate(): void {
    if (this.canLogin) this.ready = false;
  }

  private async refresh(): Promise<void> {
    const now = this.clock.now();
    if (!this.ready || (this.expiresAt !== null && now >= this.expiresAt && this.canLogin)) return this.authenticate();
    if (this.expiresAt !== null && now >= this.expiresAt) {
      throw new VaultAuthError(this.store, 'the Vault token has expired; give the broker a fresh token or use kubernetes or approle auth');
    }
    let auth: AuthBlock | undefined;
    try {
      auth = ((await this.client.write('auth/token/renew-self', {}, { timeout: this.timeoutMs })) as { auth?: AuthBlock }).auth;
    } catch (e) {
      const status = (e as { response?: { statusCode?: number } }).response?.statusCode;
      // Not renewable any more (400) or refused (403): a login method starts over; a fault is reported as one.
      if (status !== undefined && status < 500 && status !== 429 && this.canLogin) return this.authenticate();
      throw e;
    }
    const leaseMs = Number(auth?.lease_duration ?? 0) * 1000;
    // Capped by the max TTL to less than a third of a fresh lease: log in again rather than limp to expiry.
    if (this.canLogin && leaseMs < this.loginLeaseMs / 3) return this.authenticate();
    this.adopt(leaseMs, auth?.renewable === true);
  }

  private adopt(leaseMs: number, renewable: boolean): void {
    const now = this.clock.now();
    this.ready = true;
    if (leaseMs <= 0) {
      this.expiresAt = null;
      this.renewAt = null;
      return;
    }
    this.expiresAt = now + leaseMs;
    // Renew at two thirds of the lease, or log in again then if not renewable.
    this.renewAt = renewable || this.canLogin ? now + Math.floor((leaseMs * 2) / 3) : null;
  }

  private async authenticate(): Promise<void> {
    this.ready = false;
    const a = this.auth;
    if (a.kind === 'token' || a.kind === 'token-file') {
      this.client.token = a.kind === 'token' ? a.token : await this.read(a.file, 'KEYHOLD_VAULT_TOKEN_FILE');
      const self = (await this.client.read('auth/token/lookup-self', { timeout: this.timeoutMs })) as { data?: { ttl?: unknown; renewable?: unknown } };
      this.adopt(Number(self.data?.ttl ?? 0) * 1000, self.data?.renewable === true);
      return;
    }
    const body =
      a.kind === 'kubernetes'
        ? { role: a.role, jwt: await this.read(a.jwtFile, 'KEYHOLD_VAULT_JWT_FILE') }
        : { role_id: a.roleId, secret_id: await this.read(a.secretIdFile, 'KEYHOLD_VAULT_SECRET_ID_FILE') };
    const res = (await this.client.write(`auth/${a.mount}/login`, body, { timeout: this.timeoutMs })) as { auth?: AuthBlock };
    const token = res.auth?.client_token;
    if (typeof token !== 'string' || token === '') throw new VaultAuthError(this.store, `the ${a.kind} login returned no token`);
    this.client.token = token;
    this.loginLeaseMs = Number(res.auth?.lease_duration ?? 0) * 1000;
    this.adopt(this.loginLeaseMs, res.auth?.renewable === true);
  }

  private async read(path: string, setting: string): Promise<string> {
    try {
      const text = await this.readText(path);
      if (!text) throw new Error('empty');
      return text;
    } catch (e) {
      throw new VaultAuthError(this.store, `${setting}: cannot read ${path}`, { cause: e });
    }
  }
}
