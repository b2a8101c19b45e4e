// Settings of the AWS Secrets Manager key store, from the environment.
// Credentials are not settings: the SDK's default chain finds them (env,
// shared config, SSO, web identity, container or instance role).

import { ConfigError, type Env } from '../../config';

export interface AwsSecretsManagerSettings {
  /** Undefined: the SDK's own region chain (AWS_REGION, then the shared config file). */
  readonly region: string | undefined;
  /** Test only: an emulator such as moto. */
  readonly endpoint: string | undefined;
  readonly prefix: string;
  readonly kmsKeyId: string | undefined;
}

export const defaultAwsSecretPrefix = 'keyhold/validators/';

// Secret names: letters, digits and /_+=.@- (CreateSecret "Name"). The
// prefix must leave room for a 63-character validator id within 512.
const secretNameChars = /^[A-Za-z0-9/_+=.@-]{1,400}$/;
const regionPattern = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

export function parseAwsSecretsManagerSettings(env: Env): AwsSecretsManagerSettings {
  const prefix = env.KEYHOLD_AWS_SECRET_PREFIX || defaultAwsSecretPrefix;
  if (!secretNameChars.test(prefix)) {
    throw new ConfigError(`KEYHOLD_AWS_SECRET_PREFIX must be 1-400 of the characters Secrets Manager allows in names (letters, digits, /_+=.@-), got "${prefix}"`);
  }
  const regionSetting = env.KEYHOLD_AWS_REGION ? 'KEYHOLD_AWS_REGION' : env.AWS_REGION ? 'AWS_REGION' : env.AWS_DEFAULT_REGION ? 'AWS_DEFAULT_REGION' : undefined;
  const region = regionSetting ? env[regionSetting] : undefined;
  if (region !== undefined && !regionPattern.test(region)) {
    throw new ConfigError(`${regionSetting} is not an AWS region name (like eu-west-1): "${region}"`);
  }
  const endpoint = env.KEYHOLD_AWS_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(endpoint)) {
    throw new ConfigError(`KEYHOLD_AWS_ENDPOINT must be a URL like http://127.0.0.1:5000 (for tests only), got "${endpoint}"`);
  }
  return { region, endpoint, prefix, kmsKeyId: env.KEYHOLD_AWS_KMS_KEY_ID || undefined };
}
