import { describe, expect, it } from 'vitest';
import { parseVaultKvSettings } from './settings';

const addr = { KEYHOLD_VAULT_ADDR: 'https://vault.example.com:8200' };

describe('Vault KV settings', () => {
  it('defaults mount, prefix and token auth', () => {
    expect(parseVaultKvSettings({ ...addr, KEYHOLD_VAULT_TOKEN_FILE: '/run/vault-token' })).toEqual({
      address: 'https://vault.example.com:8200',
      namespace: undefined,
      mount: 'secret',
      prefix: 'keyhold/validators/',
      auth: { kind: 'token-file', file: '/run/vault-token' },
    });
    expect(() => parseVaultKvSettings(addr)).toThrow(/KEYHOLD_VAULT_TOKEN/);
    expect(() => parseVaultKvSettings({ ...addr, KEYHOLD_VAULT_TOKEN: 't', KEYHOLD_VAULT_TOKEN_FILE: 'f' })).toThrow(/only one/);
  });

  it('kubernetes: role required, JWT from the projected token path by default', () => {
    expect(parseVaultKvSettings({ ...addr, KEYHOLD_VAULT_AUTH: 'kubernetes', KEYHOLD_VAULT_ROLE: 'keyhold' }).auth).toEqual({
      kind: 'kubernetes',
      role: 'keyhold',
      jwtFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      mount: 'kubernetes',
    });
  });

  it('approle: role id and secret-id file', () => {
    expect(parseVaultKvSettings({ ...addr, KEYHOLD_VAULT_AUTH: 'approle', KEYHOLD_VAULT_ROLE_ID: 'r', KEYHOLD_VAULT_SECRET_ID_FILE: '/s' }).auth).toEqual({ kind: 'approle', roleId: 'r', secretIdFile: '/s', mount: 'approle' });
    expect(() => parseVaultKvSettings({ ...addr, KEYHOLD_VAULT_AUTH: 'approle', KEYHOLD_VAULT_ROLE_ID: 'r' })).toThrow(/KEYHOLD_VAULT_SECRET_ID_FILE/);
  });

  it('refuses paths Vault would redirect or misroute', () => {
    const token = { ...addr, KEYHOLD_VAULT_TOKEN: 't' };
    expect(() => parseVaultKvSettings({ ...token, KEYHOLD_VAULT_MOUNT: 'a/../b' })).toThrow(/KEYHOLD_VAULT_MOUNT/);
    expect(() => parseVaultKvSettings({ ...token, KEYHOLD_VAULT_PREFIX: 'a//b/' })).toThrow(/KEYHOLD_VAULT_PREFIX/);
    expect(parseVaultKvSettings({ ...token, KEYHOLD_VAULT_MOUNT: '/kv/keyhold/' }).mount).toBe('kv/keyhold');
  });
});
