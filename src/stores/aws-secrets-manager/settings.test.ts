import { describe, expect, it } from 'vitest';
import { parseAwsSecretsManagerSettings } from './settings';

describe('AWS Secrets Manager settings', () => {
  it('defaults the prefix and leaves region and credentials to the SDK chain', () => {
    expect(parseAwsSecretsManagerSettings({})).toEqual({ region: undefined, endpoint: undefined, prefix: 'keyhold/validators/', kmsKeyId: undefined });
  });

  it('takes KEYHOLD_AWS_REGION over AWS_REGION over AWS_DEFAULT_REGION, and names the one that is wrong', () => {
    expect(parseAwsSecretsManagerSettings({ AWS_DEFAULT_REGION: 'eu-west-1' }).region).toBe('eu-west-1');
    expect(parseAwsSecretsManagerSettings({ AWS_REGION: 'us-east-2', AWS_DEFAULT_REGION: 'eu-west-1' }).region).toBe('us-east-2');
    expect(parseAwsSecretsManagerSettings({ KEYHOLD_AWS_REGION: 'ap-south-1', AWS_REGION: 'us-east-2' }).region).toBe('ap-south-1');
    expect(() => parseAwsSecretsManagerSettings({ AWS_REGION: 'Frankfurt' })).toThrow(/AWS_REGION/);
  });

  it('reads the prefix, KMS key and test endpoint', () => {
    expect(parseAwsSecretsManagerSettings({ KEYHOLD_AWS_SECRET_PREFIX: 'prod/keyhold-', KEYHOLD_AWS_KMS_KEY_ID: 'alias/keyhold', KEYHOLD_AWS_ENDPOINT: 'http://127.0.0.1:5000' })).toEqual({
      region: undefined,
      endpoint: 'http://127.0.0.1:5000',
      prefix: 'prod/keyhold-',
      kmsKeyId: 'alias/keyhold',
    });
  });
});
