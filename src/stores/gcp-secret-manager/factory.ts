// KEYHOLD_KEY_STORES=gcp-secret-manager: settings → client → start-up check
// → adapter behind the resilience wrapper.

import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ConfigError } from '../../config';
import type { KeyStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientKeyStore, type Guarded, type ResilienceHooks, type ResilienceOptions } from '../resilience';
import { GcpSecretManagerKeyStore, codeOf, grpcCode, translateGcpError } from './key-store';
import { parseGcpSecretManagerSettings, type GcpSecretManagerSettings } from './settings';

export interface GcpKeyStoreOverrides {
  readonly resilience?: ResilienceOptions;
  readonly hooks?: ResilienceHooks;
}

export async function secretManagerClient(s: GcpSecretManagerSettings): Promise<SecretManagerServiceClient> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  // projectId and universeDomain spare the client its GCE metadata probes.
  const base = { projectId: s.project, universeDomain: 'googleapis.com' };
  if (!s.endpoint) return new SecretManagerServiceClient(base);
  // Test only: an emulator over plain gRPC, no Google auth. grpc-js is loaded
  // only here, so production code never needs it directly.
  const grpc = await import('@grpc/grpc-js');
  return new SecretManagerServiceClient({ ...base, apiEndpoint: s.endpoint.host, port: s.endpoint.port, sslCreds: grpc.credentials.createInsecure() });
}

function misconfiguration(e: unknown, s: GcpSecretManagerSettings): string | null {
  const code = codeOf(e);
  const message = String((e as { message?: unknown } | null)?.message ?? '');
  // google-auth-library's error has no gRPC code; its text is only matched, never printed.
  if (code === grpcCode.UNAUTHENTICATED || (code === undefined && /default credentials/i.test(message))) {
    return 'no usable Google credentials: run as a service account (Cloud Functions, workload identity) or set GOOGLE_APPLICATION_CREDENTIALS';
  }
  if (code === grpcCode.PERMISSION_DENIED) {
    return `the broker's service account may not read secrets under KEYHOLD_GCP_SECRET_PREFIX (${s.prefix}) in KEYHOLD_GCP_PROJECT (${s.project}): check both and its roles`;
  }
  if (code === grpcCode.INVALID_ARGUMENT) return `Secret Manager refused the secret name: check KEYHOLD_GCP_PROJECT (${s.project}) and KEYHOLD_GCP_SECRET_PREFIX (${s.prefix})`;
  return null;
}

export async function createGcpSecretManagerKeyStore(ctx: StoreContext, overrides: GcpKeyStoreOverrides = {}): Promise<Guarded<KeyStore>> {
  const s = parseGcpSecretManagerSettings(ctx.env);
  const resilience = overrides.resilience ?? defaultResilience;
  const client = await secretManagerClient(s);
  const callTimeoutMs = resilience.timeoutMs + 500;
  const store = new GcpSecretManagerKeyStore({ client, project: s.project, prefix: s.prefix, callTimeoutMs });

  // A cheap read that needs credentials, the project and the prefix's read
  // permission. Faults are not misconfiguration: the broker starts, and reads
  // fall over to other replicas until the store heals.
  try {
    await client.getSecret({ name: `projects/${s.project}/secrets/${s.prefix}_keyhold-probe` }, { timeout: callTimeoutMs, retry: null });
  } catch (e) {
    if (codeOf(e) !== grpcCode.NOT_FOUND) {
      const wrong = misconfiguration(e, s);
      if (wrong) {
        await client.close().catch(() => undefined);
        throw new ConfigError(`KEYHOLD_KEY_STORES=gcp-secret-manager: ${wrong}`);
      }
      ctx.logger.log('warn', 'key_store_start_check_failed', { store: store.name, code: translateGcpError(store.name, e, 'GetSecret').code });
    }
  }
  return resilientKeyStore(store, resilience, overrides.hooks ?? ctx.storeHooks);
}
