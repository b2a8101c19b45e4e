import { describe, expect, it } from 'vitest';
import { parseGcpSecretManagerSettings } from './settings';

describe('GCP Secret Manager settings', () => {
  it('needs a project and defaults the prefix', () => {
    expect(() => parseGcpSecretManagerSettings({})).toThrow(/KEYHOLD_GCP_PROJECT/);
    expect(parseGcpSecretManagerSettings({ KEYHOLD_GCP_PROJECT: 'my-project' })).toEqual({ project: 'my-project', prefix: 'keyhold-validators-', endpoint: undefined });
    expect(parseGcpSecretManagerSettings({ GOOGLE_CLOUD_PROJECT: '123456789012' }).project).toBe('123456789012');
  });

  it('takes the emulator endpoint as host:port', () => {
    expect(parseGcpSecretManagerSettings({ KEYHOLD_GCP_PROJECT: 'my-project', KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: '127.0.0.1:8085' }).endpoint).toEqual({ host: '127.0.0.1', port: 8085 });
    expect(parseGcpSecretManagerSettings({ KEYHOLD_GCP_PROJECT: 'my-project', KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: '[::1]:8085' }).endpoint).toEqual({ host: '::1', port: 8085 });
    expect(() => parseGcpSecretManagerSettings({ KEYHOLD_GCP_PROJECT: 'my-project', KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: '127.0.0.1:0' })).toThrow(/ENDPOINT/);
  });
});
