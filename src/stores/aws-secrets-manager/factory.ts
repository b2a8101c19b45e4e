// KEYHOLD_KEY_STORES=aws-secrets-manager: settings → client → start-up check
// → adapter behind the resilience wrapper.

import { SecretsManagerClient, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { ConfigError } from '../../config';
import type { KeyStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientKeyStore, type Guarded, type ResilienceHooks, type ResilienceOptions } from '../resilience';
import { AwsSecretsManagerKeyStore, isNotFound, translateAwsError } from './key-store';
import { parseAwsSecretsManagerSettings, type AwsSecretsManagerSettings } from './settings';

export interface AwsKeyStoreOverrides {
  /** Tests: static credentials instead of the SDK's default chain. */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly resilience?: ResilienceOptions;
  readonly hooks?: ResilienceHooks;
}

export function secretsManagerClient(s: AwsSecretsManagerSettings, timeoutMs: number, credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider): SecretsManagerClient {
  return new SecretsManagerClient({
    ...(s.region ? { region: s.region } : {}),
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // One attempt: the resilience wrapper owns retries, so the SDK's own
    // (3 by default) would multiply them.
    maxAttempts: 1,
    // Above the wrapper's per-attempt timeout, so the wrapper decides and the
    // socket is still released soon after a call it abandoned.
    requestHandler: { connectionTimeout: Math.min(1000, timeoutMs), requestTimeout: timeoutMs + 500 },
  });
}

const transportCode = (e: unknown): string | undefined => {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
};

/** What the start-up probe's failure means for the operator, or null when it is not a misconfiguration. */
function misconfiguration(e: unknown, s: AwsSecretsManagerSettings, region: string): string | null {
  const name = (e as { name?: unknown } | null)?.name;
  const code = transportCode(e);
  if (name === 'CredentialsProviderError') {
    return 'no AWS credentials found: give the broker a role (Lambda, ECS, EKS pod identity or IRSA), or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY';
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return s.endpoint
      ? `cannot resolve KEYHOLD_AWS_ENDPOINT (${s.endpoint})`
      : `cannot resolve the Secrets Manager endpoint of region "${region}": check KEYHOLD_AWS_REGION (or AWS_REGION)`;
  }
  if (name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException' || name === 'InvalidClientTokenId') {
    return `AWS rejected the broker's credentials (${name}): check the role or AWS_PROFILE / AWS_ACCESS_KEY_ID`;
  }
  if (name === 'AccessDeniedException') {
    return `the broker's AWS identity may not call secretsmanager:DescribeSecret under KEYHOLD_AWS_SECRET_PREFIX (${s.prefix}): check its IAM policy and the prefix`;
  }
  return null;
}

export async function createAwsSecretsManagerKeyStore(ctx: StoreContext, overrides: AwsKeyStoreOverrides = {}): Promise<Guarded<KeyStore>> {
  const s = parseAwsSecretsManagerSettings(ctx.env);
  const resilience = overrides.resilience ?? defaultResilience;
  const client = secretsManagerClient(s, resilience.timeoutMs, overrides.credentials);
  let region: string;
  try {
    region = await client.config.region();
  } catch {
    client.destroy();
    throw new ConfigError('no AWS region: set KEYHOLD_AWS_REGION (or AWS_REGION) to the region of the key secrets');
  }
  const store = new AwsSecretsManagerKeyStore({ client, prefix: s.prefix, ...(s.kmsKeyId ? { kmsKeyId: s.kmsKeyId } : {}) });

  // One cheap call that needs the region, credentials and the prefix's read
  // permission. A fault (5xx, throttling, timeout) is not a misconfiguration:
  // the broker starts and reads fall over to other replicas until it heals.
  try {
    await client.send(new DescribeSecretCommand({ SecretId: `${s.prefix}_keyhold-probe` }));
  } catch (e) {
    if (!isNotFound(e)) {
      const wrong = misconfiguration(e, s, region);
      if (wrong) {
        client.destroy();
        throw new ConfigError(`KEYHOLD_KEY_STORES=aws-secrets-manager: ${wrong}`);
      }
      ctx.logger.log('warn', 'key_store_start_check_failed', { store: store.name, code: translateAwsError(store.name, e, 'DescribeSecret').code });
    }
  }
  return resilientKeyStore(store, resilience, overrides.hooks ?? ctx.storeHooks);
}
