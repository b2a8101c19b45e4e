// The signing key ring from AWS Secrets Manager: GetSecretValue of
// KEYHOLD_SIGNING_KEY_SECRET (a name or ARN) at AWSCURRENT. The broker's role
// may only read this secret (infra/terraform/aws/iam.tf), and the SDK is
// imported on first use so other runtimes never load it.

import type { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { JWK } from 'jose';
import { ConfigError, type Env } from '../config';
import type { SigningKeySource } from '../compose';
import { parseAwsSecretsManagerSettings } from '../stores/aws-secrets-manager/settings';
import { RefreshingGrantSigner, parseRefreshMs, parseSigningKeyRing, signingKeySetting, type RingReader } from './ring';

export interface AwsSigningKeyOverrides {
  /** Tests: static credentials instead of the SDK's default chain. */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

const callTimeoutMs = 5000;

/** What a failed read means for the operator, or null when it is a fault that may heal. */
function misconfiguration(e: unknown, secretId: string): string | null {
  const name = (e as { name?: unknown } | null)?.name;
  switch (name) {
    case 'ResourceNotFoundException':
      return `secret "${secretId}" does not exist or has no AWSCURRENT value yet: put the key ring in it out of band (README.md, "Deploying to the cloud")`;
    case 'AccessDeniedException':
      return `the broker's role may not call secretsmanager:GetSecretValue on "${secretId}"`;
    case 'DecryptionFailure':
      return `Secrets Manager could not decrypt "${secretId}": the role needs kms:Decrypt on its KMS key via Secrets Manager`;
    case 'CredentialsProviderError':
      return 'no AWS credentials found: give the broker a role';
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'InvalidClientTokenId':
      return `AWS rejected the broker's credentials (${name})`;
    default:
      return null;
  }
}

export function awsSigningKeyReader(secretId: string, env: Env, overrides: AwsSigningKeyOverrides = {}): RingReader {
  const s = parseAwsSecretsManagerSettings(env);
  let client: Promise<{ client: SecretsManagerClient; Get: typeof GetSecretValueCommand }> | undefined;
  return async (): Promise<readonly JWK[]> => {
    client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => ({
      Get: sdk.GetSecretValueCommand,
      client: new sdk.SecretsManagerClient({
        ...(s.region ? { region: s.region } : {}),
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
        // A refresh holds up one request: bound it, and let the next refresh retry.
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1000, requestTimeout: callTimeoutMs },
      }),
    })).catch((e: unknown) => {
      client = undefined;
      throw e;
    });
    const { Get, client: c } = await client;
    let value: string | undefined;
    try {
      const out = await c.send(new Get({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
      value = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
    } catch (e) {
      const wrong = misconfiguration(e, secretId);
      if (wrong) throw new ConfigError(`${signingKeySetting}: ${wrong}`);
      throw e;
    }
    if (value === undefined) throw new ConfigError(`${signingKeySetting}: secret "${secretId}" has an empty value`);
    return parseSigningKeyRing(value, `secret "${secretId}"`);
  };
}

/** For composeBroker: the ring from Secrets Manager, re-read every KEYHOLD_SIGNING_KEY_REFRESH_SECONDS. */
export function awsSigningKeySourceWith(overrides: AwsSigningKeyOverrides = {}): SigningKeySource {
  return async (secretId, ctx) =>
    RefreshingGrantSigner.start(awsSigningKeyReader(secretId, ctx.env, overrides), {
      clock: ctx.clock,
      logger: ctx.logger,
      refreshMs: parseRefreshMs(ctx.env),
      source: `secret "${secretId}"`,
    });
}

export const awsSigningKeySource: SigningKeySource = awsSigningKeySourceWith();
