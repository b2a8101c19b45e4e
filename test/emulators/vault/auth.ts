// Tokens, login methods and a minimal ACL. Policies are set from JS as path
// rules; Vault's HCL policy language and `sys/policies/acl` are not emulated.
import { randomBytes } from 'node:crypto';
import { MSG, envelope, fail, goTime, ok } from './wire';
import type { AuthBlock, Reply } from './wire';

export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny';

export interface PolicyRule {
  /** A Vault policy path: exact, a trailing `*` for a prefix, `+` for one segment. */
  path: string;
  capabilities: Capability[];
}

export interface KubernetesRole {
  boundServiceAccountNames: string[];
  boundNamespaces: string[];
  policies: string[];
  ttlSeconds: number;
  /** The token's lifetime limit across renewals; Vault's system default is 32 days. */
  maxTtlSeconds?: number;
  /**
   * Stands in for Kubernetes' TokenReview: return the pod's identity, or null
   * to refuse. Default: decode the JWT payload WITHOUT checking its signature
   * and read the `kubernetes.io` claims (an emulator simplification).
   */
  verifyJwt?: (jwt: string) => Promise<{ namespace: string; serviceAccount: string } | null>;
}

export interface AppRole {
  roleId: string;
  secretId: string;
  policies: string[];
  ttlSeconds: number;
  maxTtlSeconds?: number;
}

export interface TokenEntry {
  id: string;
  accessor: string;
  policies: string[];
  path: string;
  displayName: string;
  meta: Record<string, string> | null;
  issueTime: number;
  creationTtl: number;
  /** ms since the epoch; null for the root token, which never expires. */
  expireAt: number | null;
  maxExpireAt: number | null;
  renewable: boolean;
  defaultTtl: number;
}

const SYSTEM_MAX_TTL_SECONDS = 768 * 3600;

function randomToken(prefix: string): string {
  return prefix + randomBytes(18).toString('base64url').replace(/[-_]/g, 'x');
}

/** Unsigned read of a service-account JWT: projected (`kubernetes.io`) or legacy claims. */
export async function decodeServiceAccountJwt(jwt: string): Promise<{ namespace: string; serviceAccount: string } | null> {
  const payload = jwt.split('.')[1];
  if (payload === undefined) return null;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const k8s = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  const namespace = k8s?.namespace ?? claims['kubernetes.io/serviceaccount/namespace'];
  const serviceAccount = k8s?.serviceaccount?.name ?? claims['kubernetes.io/serviceaccount/service-account.name'];
  if (typeof namespace !== 'string' || typeof serviceAccount !== 'string') return null;
  return { namespace, serviceAccount };
}

/** strutil.StrListContainsGlob: `*` alone, or a leading/trailing `*`. */
function globListContains(list: string[], value: string): boolean {
  return list.some((g) => {
    if (g === '*' || g === value) return true;
    if (g.endsWith('*') && value.startsWith(g.slice(0, -1))) return true;
    if (g.startsWith('*') && value.endsWith(g.slice(1))) return true;
    return false;
  });
}

function patternRegex(pattern: string): RegExp {
  const prefix = pattern.endsWith('*');
  const body = (prefix ? pattern.slice(0, -1) : pattern)
    .split('+')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${body}${prefix ? '.*' : ''}$`);
}

export class AuthState {
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly policies = new Map<string, PolicyRule[]>();
  private readonly kubernetesRoles = new Map<string, KubernetesRole>();
  private readonly appRoles = new Map<string, AppRole>();

  constructor(
    private readonly now: () => number,
    readonly rootToken: string,
  ) {
    this.reset();
  }

  reset(): void {
    this.tokens.clear();
    this.policies.clear();
    this.kubernetesRoles.clear();
    this.appRoles.clear();
    this.tokens.set(this.rootToken, {
      id: this.rootToken,
      accessor: randomToken(''),
      policies: ['root'],
      path: 'auth/token/root',
      displayName: 'root',
      meta: null,
      issueTime: this.now(),
      creationTtl: 0,
      expireAt: null,
      maxExpireAt: null,
      renewable: false,
      defaultTtl: 0,
    });
  }

  setPolicy(name: string, rules: PolicyRule[]): void {
    if (name === 'root') throw new TypeError('the root policy cannot be changed');
    this.policies.set(name, rules.map((r) => ({ path: r.path, capabilities: [...r.capabilities] })));
  }

  addKubernetesRole(name: string, role: KubernetesRole): void {
    this.kubernetesRoles.set(name, role);
  }

  addAppRole(name: string, role: AppRole): void {
    this.appRoles.set(name, role);
  }

  /** A token as an auth method would issue it; `default` is always attached, as Vault does. */
  issue(opts: { policies: string[]; ttlSeconds: number; maxTtlSeconds?: number; meta?: Record<string, string>; path: string; displayName: string }): TokenEntry {
    const now = this.now();
    const maxTtl = Math.min(opts.maxTtlSeconds ?? SYSTEM_MAX_TTL_SECONDS, SYSTEM_MAX_TTL_SECONDS);
    const ttl = Math.min(opts.ttlSeconds, maxTtl);
    const entry: TokenEntry = {
      id: randomToken('hvs.'),
      accessor: randomToken(''),
      policies: [...new Set(['default', ...opts.policies])].sort(),
      path: opts.path,
      displayName: opts.displayName,
      meta: opts.meta ?? null,
      issueTime: now,
      creationTtl: ttl,
      expireAt: now + ttl * 1000,
      maxExpireAt: now + maxTtl * 1000,
      renewable: true,
      defaultTtl: ttl,
    };
    this.tokens.set(entry.id, entry);
    return entry;
  }

  /** The live entry for a token, forgetting it once expired. */
  lookup(id: string | undefined): TokenEntry | undefined {
    if (id === undefined || id === '') return undefined;
    const entry = this.tokens.get(id);
    if (!entry) return undefined;
    if (entry.expireAt !== null && entry.expireAt <= this.now()) {
      this.tokens.delete(id);
      return undefined;
    }
    return entry;
  }

  private ttlLeft(entry: TokenEntry): number {
    return entry.expireAt === null ? 0 : Math.max(0, Math.floor((entry.expireAt - this.now()) / 1000));
  }

  authBlock(entry: TokenEntry): AuthBlock {
    return {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: entry.policies,
      token_policies: entry.policies,
      metadata: entry.meta,
      lease_duration: this.ttlLeft(entry),
      renewable: entry.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  /**
   * Vault's ACL, reduced: the root policy allows everything; otherwise exact
   * path rules win over globs, the longest glob wins among globs, rules for
   * the same path are merged across policies, and `deny` overrides.
   */
  allowed(entry: TokenEntry, path: string, capability: Capability): boolean {
    if (entry.policies.includes('root')) return true;
    const matches: PolicyRule[] = [];
    for (const name of entry.policies) for (const rule of this.policies.get(name) ?? []) if (patternRegex(rule.path).test(path)) matches.push(rule);
    if (matches.length === 0) return false;
    const exact = matches.filter((r) => !r.path.endsWith('*') && !r.path.includes('+'));
    const pool = exact.length > 0 ? exact : matches;
    const best = Math.max(...pool.map((r) => r.path.length));
    const caps = new Set(pool.filter((r) => r.path.length === best).flatMap((r) => r.capabilities));
    return !caps.has('deny') && caps.has(capability);
  }

  lookupSelf(entry: TokenEntry): Reply {
    return ok(
      envelope({
        data: {
          accessor: entry.accessor,
          creation_time: Math.floor(entry.issueTime / 1000),
          creation_ttl: entry.creationTtl,
          display_name: entry.displayName,
          entity_id: '',
          expire_time: entry.expireAt === null ? null : goTime(entry.expireAt),
          explicit_max_ttl: 0,
          id: entry.id,
          issue_time: goTime(entry.issueTime),
          meta: entry.meta,
          num_uses: 0,
          orphan: true,
          path: entry.path,
          policies: entry.policies,
          renewable: entry.renewable,
          ttl: this.ttlLeft(entry),
          type: 'service',
        },
        mountType: 'token',
      }),
    );
  }

  renewSelf(entry: TokenEntry, body: Record<string, unknown>): Reply {
    if (!entry.renewable || entry.expireAt === null || entry.maxExpireAt === null) return fail(400, MSG.notRenewable);
    const increment = parseDurationSeconds(body.increment);
    if (increment === undefined) return fail(400, `error converting input ${JSON.stringify(body.increment)} for field "increment"`);
    const ttl = increment > 0 ? increment : entry.defaultTtl;
    entry.expireAt = Math.min(this.now() + ttl * 1000, entry.maxExpireAt);
    return ok(envelope({ auth: this.authBlock(entry), mountType: 'token' }));
  }

  async kubernetesLogin(body: Record<string, unknown>): Promise<Reply> {
    const roleName = typeof body.role === 'string' ? body.role : '';
    if (roleName === '') return fail(400, MSG.missingField('role'));
    const jwt = typeof body.jwt === 'string' ? body.jwt : '';
    if (jwt === '') return fail(400, MSG.missingField('jwt'));
    const role = this.kubernetesRoles.get(roleName);
    if (!role) return fail(400, MSG.invalidRole(roleName));
    const identity = await (role.verifyJwt ?? decodeServiceAccountJwt)(jwt);
    if (!identity) return fail(403, MSG.permissionDenied);
    // path_login.go checks the name before the namespace, both 403.
    if (!globListContains(role.boundServiceAccountNames, identity.serviceAccount)) return fail(403, MSG.saNotAuthorized);
    if (!globListContains(role.boundNamespaces, identity.namespace)) return fail(403, MSG.namespaceNotAuthorized);
    const entry = this.issue({
      policies: role.policies,
      ttlSeconds: role.ttlSeconds,
      ...(role.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: role.maxTtlSeconds }),
      meta: { role: roleName, service_account_name: identity.serviceAccount, service_account_namespace: identity.namespace, service_account_secret_name: '', service_account_uid: '' },
      path: 'auth/kubernetes/login',
      displayName: `kubernetes-${identity.namespace}-${identity.serviceAccount}`,
    });
    return ok(envelope({ auth: this.authBlock(entry) }));
  }

  appRoleLogin(body: Record<string, unknown>): Reply {
    const roleId = typeof body.role_id === 'string' ? body.role_id : '';
    if (roleId === '') return fail(400, MSG.missingField('role_id'));
    const secretId = typeof body.secret_id === 'string' ? body.secret_id : '';
    const found = [...this.appRoles.entries()].find(([, r]) => r.roleId === roleId);
    if (!found || found[1].secretId !== secretId) return fail(400, MSG.badAppRole);
    const [name, role] = found;
    const entry = this.issue({
      policies: role.policies,
      ttlSeconds: role.ttlSeconds,
      ...(role.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: role.maxTtlSeconds }),
      meta: { role_name: name },
      path: 'auth/approle/login',
      displayName: 'approle',
    });
    return ok(envelope({ auth: this.authBlock(entry) }));
  }
}

/** Vault's duration fields: seconds as a number or numeric string, or "30s", "5m", "1h". */
export function parseDurationSeconds(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)(s|m|h|d)?$/.exec(v.trim());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
