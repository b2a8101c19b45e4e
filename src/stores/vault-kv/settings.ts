// Settings of the Vault KV v2 key store, from the environment.

import { ConfigError, type Env } from '../../config';

export type VaultAuthSettings =
  | { readonly kind: 'token'; readonly token: string } | { readonly kind: 'token-file'; readonly file: string }
  | { readonly kind: 'kubernetes'; readonly role: string; readonly jwtFile: string; readonly mount: string }
  | { readonly kind: 'approle'; readonly roleId: string; readonly secretIdFile: string; readonly mount: string };

export interface VaultKvSettings {
  readonly address: string;
  readonly namespace: string | undefined;
  readonly mount: string;
  readonly prefix: string;
  readonly auth: VaultAuthSettings;
}

export const defaultVaultMount = 'secret';
export const defaultVaultPrefix = 'keyhold/validators/';
/** Where the kubelet projects the pod's service-account token. */
export const defaultServiceAccountJwtFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

// Path segments Vault routes without surprises: no '..', no '//', no leading '/'.
const segment = '[A-Za-z0-9_-][A-Za-z0-9._-]*';
const mountPattern = new RegExp(`^${segment}(/${segment})*$`);
const prefixPattern = new RegExp(`^(${segment}/)*(${segment})?$`);

export function parseVaultKvSettings(env: Env): VaultKvSettings {
  const address = (env.KEYHOLD_VAULT_ADDR || env.VAULT_ADDR || '').replace(/\/+$/, '');
  if (!address) throw new ConfigError('KEYHOLD_VAULT_ADDR must be the Vault address, like https://vault.example.com:8200');
  if (!/^https?:\/\/[^\s/]+$/.test(address)) throw new ConfigError(`KEYHOLD_VAULT_ADDR must be a URL like https://vault.example.com:8200, got "${address}"`);
  const mount = (env.KEYHOLD_VAULT_MOUNT || defaultVaultMount).replace(/^\/+|\/+$/g, '');
  if (!mountPattern.test(mount) || mount.includes('..')) throw new ConfigError(`KEYHOLD_VAULT_MOUNT is not a mount path like "secret" or "kv/keyhold": "${mount}"`);
  const prefix = env.KEYHOLD_VAULT_PREFIX ?? defaultVaultPrefix;
  if (!prefixPattern.test(prefix) || prefix.includes('..')) throw new ConfigError(`KEYHOLD_VAULT_PREFIX must be a path like "keyhold/validators/": "${prefix}"`);

  const method = env.KEYHOLD_VAULT_AUTH || 'token';
  let auth: VaultAuthSettings;
  switch (method) {
    case 'token':
      if (env.KEYHOLD_VAULT_TOKEN && env.KEYHOLD_VAULT_TOKEN_FILE) throw new ConfigError('set only one of KEYHOLD_VAULT_TOKEN and KEYHOLD_VAULT_TOKEN_FILE');
      if (env.KEYHOLD_VAULT_TOKEN_FILE) auth = { kind: 'token-file', file: env.KEYHOLD_VAULT_TOKEN_FILE };
      else if (env.KEYHOLD_VAULT_TOKEN) auth = { kind: 'token', token: env.KEYHOLD_VAULT_TOKEN };
      else throw new ConfigError('Vault token auth needs KEYHOLD_VAULT_TOKEN_FILE (or KEYHOLD_VAULT_TOKEN); or set KEYHOLD_VAULT_AUTH=kubernetes or approle');
      break;
    case 'kubernetes':
      if (!env.KEYHOLD_VAULT_ROLE) throw new ConfigError('KEYHOLD_VAULT_AUTH=kubernetes needs KEYHOLD_VAULT_ROLE, the Vault role bound to the broker\'s service account');
      auth = { kind: 'kubernetes', role: env.KEYHOLD_VAULT_ROLE, jwtFile: env.KEYHOLD_VAULT_JWT_FILE || defaultServiceAccountJwtFile, mount: env.KEYHOLD_VAULT_AUTH_MOUNT || 'kubernetes' };
      break;
    case 'approle':
      if (!env.KEYHOLD_VAULT_ROLE_ID || !env.KEYHOLD_VAULT_SECRET_ID_FILE) throw new ConfigError('KEYHOLD_VAULT_AUTH=approle needs KEYHOLD_VAULT_ROLE_ID and KEYHOLD_VAULT_SECRET_ID_FILE');
      auth = { kind: 'approle', roleId: env.KEYHOLD_VAULT_ROLE_ID, secretIdFile: env.KEYHOLD_VAULT_SECRET_ID_FILE, mount: env.KEYHOLD_VAULT_AUTH_MOUNT || 'approle' };
      break;
    default:
      throw new ConfigError(`KEYHOLD_VAULT_AUTH must be token, kubernetes or approle, got "${method}"`);
  }
  return { address, namespace: env.KEYHOLD_VAULT_NAMESPACE || undefined, mount, prefix, auth };
}

/** The setting an operator fixes when this auth method fails. */
export function authSettingNames(auth: VaultAuthSettings): string {
  switch (auth.kind) {
    case 'token':
      return 'KEYHOLD_VAULT_TOKEN';
    case 'token-file':
      return 'KEYHOLD_VAULT_TOKEN_FILE';
    case 'kubernetes':
      return 'KEYHOLD_VAULT_ROLE (and KEYHOLD_VAULT_JWT_FILE, KEYHOLD_VAULT_AUTH_MOUNT)';
    case 'approle':
      return 'KEYHOLD_VAULT_ROLE_ID and KEYHOLD_VAULT_SECRET_ID_FILE';
  }
}
