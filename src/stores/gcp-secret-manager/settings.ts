// Settings of the GCP Secret Manager key store, from the environment.
// Credentials are not settings: application default credentials (the
// function's service account, workload identity, or
// GOOGLE_APPLICATION_CREDENTIALS) are found by the client library.

import { ConfigError, type Env } from '../../config';

export interface GcpSecretManagerSettings {
  readonly project: string;
  readonly prefix: string;
  /** Test only: host:port of an emulator, spoken to without TLS or auth. */
  readonly endpoint: { host: string; port: number } | undefined;
}

export const defaultGcpSecretPrefix = 'keyhold-validators-';

// Secret ids are at most 255 of [a-zA-Z0-9_-]; leave room for a 63-character validator id.
const prefixPattern = /^[A-Za-z0-9_-]{1,192}$/;
// Project ids (6-30, lower case, digits, hyphens, starting with a letter) or project numbers.
const projectPattern = /^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|\d{1,20})$/;

export function parseGcpSecretManagerSettings(env: Env): GcpSecretManagerSettings {
  const project = env.KEYHOLD_GCP_PROJECT || env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new ConfigError('KEYHOLD_GCP_PROJECT must name the Google Cloud project that holds the key secrets');
  if (!projectPattern.test(project)) throw new ConfigError(`KEYHOLD_GCP_PROJECT is not a project id or number: "${project}"`);
  const prefix = env.KEYHOLD_GCP_SECRET_PREFIX || defaultGcpSecretPrefix;
  if (!prefixPattern.test(prefix)) {
    throw new ConfigError(`KEYHOLD_GCP_SECRET_PREFIX must be 1-192 of the characters Secret Manager allows in ids (letters, digits, _ and -), got "${prefix}"`);
  }
  let endpoint: GcpSecretManagerSettings['endpoint'];
  const raw = env.KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT;
  if (raw) {
    const m = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(raw);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) throw new ConfigError(`KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT must be host:port (an emulator, for tests only), got "${raw}"`);
    endpoint = { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  return { project, prefix, endpoint };
}
