// Everything the emulator says on the wire that a client might match on:
// error texts, status codes and the response envelope. Kept in one place so
// that a point found to differ from a real Vault is corrected once.
//
// Sources (read while writing this):
// - hashicorp/vault-plugin-secrets-kv path_data.go, path_metadata.go,
//   path_delete.go, path_destroy.go: KV v2 texts, 204s, 404 with metadata.
// - hashicorp/vault-plugin-auth-kubernetes path_login.go: login texts/codes.
// - developer.hashicorp.com/vault/api-docs/system/health: health codes and
//   query parameters.
// - hashicorp/vault vault/expiration.go: "lease not found or lease is not renewable".
import { randomUUID } from 'node:crypto';

export const MSG = {
  permissionDenied: 'permission denied',
  sealed: 'Vault is sealed',
  internal: 'internal error',
  casMismatch: 'check-and-set parameter did not match the current version',
  casRequired: 'check-and-set parameter required for this call',
  casParse: 'error parsing check-and-set parameter',
  noData: 'no data provided',
  // path_delete.go capitalises this one, path_destroy.go does not.
  noVersionDelete: 'No version number provided',
  noVersionDestroy: 'no version number provided',
  invalidRole: (name: string) => `invalid role name ${JSON.stringify(name)}`,
  saNotAuthorized: 'service account name not authorized',
  namespaceNotAuthorized: 'namespace not authorized',
  missingField: (field: string) => `missing ${field}`,
  // approle path_login.go answers both unknown role_id and wrong secret_id
  // with this text, and ErrInvalidCredentials maps to 400.
  badAppRole: 'invalid role or secret ID',
  notRenewable: 'lease not found or lease is not renewable',
  noHandler: (path: string) => `no handler for route ${JSON.stringify(path)}. route entry not found.`,
  // Go's multierror formatting, as a real server prints it (seen in curl
  // transcripts of `LIST /v1/secret/subkeys/x`).
  unsupportedOperation: '1 error occurred:\n\t* unsupported operation\n\n',
  unsupportedPath: '1 error occurred:\n\t* unsupported path\n\n',
  rateLimited: (path: string) => `request path ${JSON.stringify(path)}: rate limit quota exceeded`,
  pathInUse: (path: string) => `path is already in use at ${path}`,
  badJson: (detail: string) => `failed to parse JSON input: ${detail}`,
  patchContentType: (ct: string) => `PATCH requires Content-Type of application/merge-patch+json, provided ${ct}`,
} as const;

/*
 * Guesses: behaviour not confirmed against a running Vault. Each is the
 * documented or source-derived convention; correct here if a real server
 * disagrees.
 * - An invalid or expired token answers 403 ["permission denied"] (some
 *   Vault versions add a second error "invalid token").
 * - Request checks run in Vault's order: sealed (503), token (403), ACL (403),
 *   then routing: with the root token an unmounted path is 404 "no handler
 *   for route", with a non-root token the ACL denies it first (403).
 * - Renewing the root token (no TTL) is 400 "lease not found or lease is not
 *   renewable" (expiration.go's text for a lease with no expiry).
 * - A JWT that cannot be decoded is 403 "permission denied" (the real plugin
 *   answers 403 with the parser's own text).
 * - LIST on a KV path other than metadata/ is 405 "unsupported operation".
 * - A standby node serves requests as if active (a real one forwards them);
 *   only /sys/health reports the difference.
 * - Renewal sets the TTL to `increment` (or the role's TTL when absent),
 *   capped by the token's max TTL (framework.CalculateTTL).
 */

export interface AuthBlock {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  identity_policies?: string[];
  metadata: Record<string, string> | null;
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  token_type: 'service';
  orphan: boolean;
  mfa_requirement: null;
  num_uses: number;
}

export interface Envelope {
  request_id: string;
  lease_id: string;
  renewable: boolean;
  lease_duration: number;
  data: unknown;
  wrap_info: null;
  warnings: string[] | null;
  auth: AuthBlock | null;
  mount_type?: string;
}

export function envelope(fields: { data?: unknown; auth?: AuthBlock; warnings?: string[]; mountType?: string }): Envelope {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: fields.data ?? null,
    wrap_info: null,
    warnings: fields.warnings && fields.warnings.length > 0 ? fields.warnings : null,
    auth: fields.auth ?? null,
    ...(fields.mountType === undefined ? {} : { mount_type: fields.mountType }),
  };
}

/** An answer from a route: a JSON body with a status, or 204. */
export type Reply = { status: number; body?: unknown; headers?: Record<string, string>; /** a non-JSON body */ text?: string };

export const noContent = (): Reply => ({ status: 204 });
export const ok = (body: unknown): Reply => ({ status: 200, body });
export const fail = (status: number, ...errors: string[]): Reply => ({ status, body: { errors } });

/** Vault prints times as Go's RFC3339Nano in UTC; JS millisecond ISO strings are a valid subset. */
export const goTime = (ms: number): string => new Date(ms).toISOString();
