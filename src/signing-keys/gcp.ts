// The signing key ring from GCP Secret Manager: AccessSecretVersion of the
// secret's `latest` version. KEYHOLD_SIGNING_KEY_SECRET is the secret's
// resource name, `projects/<project>/secrets/<id>` (what Terraform passes),
// or a bare id in KEYHOLD_GCP_PROJECT. The payload is checked against its
// CRC32C, as the key store does, so a damaged ring never becomes the signer.

import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { JWK } from 'jose';
import { ConfigError, type Env } from '../config';
import type { SigningKeySource } from '../compose';
import { crc32c } from '../stores/gcp-secret-manager/crc32c';
import { parseGcpSecretManagerSettings } from '../stores/gcp-secret-manager/settings';
import { RefreshingGrantSigner, parseRefreshMs, parseSigningKeyRing, signingKeySetting, type RingReader } from './ring';

/** The one call the reader makes, so tests can hand it a client that misbehaves. */
export type AccessSecretVersion = Pick<SecretManagerServiceClient, 'accessSecretVersion'>;

const callTimeoutMs = 5000;

// google.rpc.Code values (https://cloud.google.com/apis/design/errors).
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const FAILED_PRECONDITION = 9;
const UNAUTHENTICATED = 16;

export function gcpSecretVersionName(secret: string, env: Env): { project: string; version: string } {
  const full = /^projects\/([^/]+)\/secrets\/([A-Za-z0-9_-]{1,255})$/.exec(secret);
  if (full) return { project: full[1]!, version: `${secret}/versions/latest` };
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(secret)) {
    throw new ConfigError(`${signingKeySetting} must be a secret id or projects/<project>/secrets/<id>, got "${secret}"`);
  }
  const project = env.KEYHOLD_GCP_PROJECT || env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new ConfigError(`${signingKeySetting} is a bare secret id: set KEYHOLD_GCP_PROJECT, or give projects/<project>/secrets/${secret}`);
  return { project, version: `projects/${project}/secrets/${secret}/versions/latest` };
}

function misconfiguration(e: unknown, name: string): string | null {
  switch ((e as { code?: unknown } | null)?.code) {
    case NOT_FOUND:
    case FAILED_PRECONDITION: // the latest version is disabled or destroyed
      return `${name} does not exist or has no enabled version: add the key ring out of band (README.md, "Deploying to the cloud")`;
    case PERMISSION_DENIED:
      return `the broker's service account may not access ${name} (it needs roles/secretmanager.secretAccessor on that secret)`;
    case UNAUTHENTICATED:
      return 'no usable Google credentials: run as a service account';
    default:
      return null;
  }
}

/** Read and check one version; `client` may be any object with accessSecretVersion. */
export async function readGcpSigningKeys(client: AccessSecretVersion, name: string): Promise<JWK[]> {
  let response;
  try {
    [response] = await client.accessSecretVersion({ name }, { timeout: callTimeoutMs });
  } catch (e) {
    const wrong = misconfiguration(e, name);
    if (wrong) throw new ConfigError(`${signingKeySetting}: ${wrong}`);
    throw e;
  }
  const data = response.payload?.data;
  const bytes = data instanceof Uint8Array ? data : typeof data === 'string' ? Buffer.from(data, 'base64') : undefined;
  if (!bytes || bytes.length === 0) throw new ConfigError(`${signingKeySetting}: ${name} has an empty payload`);
  try {
    const given = response.payload?.dataCrc32c;
    if (given === undefined || given === null || Number(String(given)) !== crc32c(bytes)) {
      throw new ConfigError(`${signingKeySetting}: ${name} failed its CRC32C check (damaged, or added without a checksum); add the version again with gcloud`);
    }
    return parseSigningKeyRing(Buffer.from(bytes).toString('utf8'), name);
  } finally {
    bytes.fill(0);
  }
}

export function gcpSigningKeyReader(secret: string, env: Env): RingReader {
  const { project, version } = gcpSecretVersionName(secret, env);
  const settings = parseGcpSecretManagerSettings({ ...env, KEYHOLD_GCP_PROJECT: project });
  let client: Promise<SecretManagerServiceClient> | undefined;
  return async () => {
    client ??= import('../stores/gcp-secret-manager/factory')
      .then((f) => f.secretManagerClient(settings))
      .catch((e: unknown) => {
        client = undefined;
        throw e;
      });
    return readGcpSigningKeys(await client, version);
  };
}

/** For composeBroker: the ring from Secret Manager, re-read every KEYHOLD_SIGNING_KEY_REFRESH_SECONDS. */
export const gcpSigningKeySource: SigningKeySource = async (secret, ctx) => {
  const { version } = gcpSecretVersionName(secret, ctx.env);
  return RefreshingGrantSigner.start(gcpSigningKeyReader(secret, ctx.env), {
    clock: ctx.clock,
    logger: ctx.logger,
    refreshMs: parseRefreshMs(ctx.env),
    source: version,
  });
};
