// Key material in GCP Secret Manager, one secret per validator
// (projects/<project>/secrets/<prefix><validator with . → _>), each version's
// payload being the JSON of serializeKeyMaterial().
//
// Ownership: the label keyhold-owner=keyhold on the secret (the deployment
// creates validator secrets with it, infra/terraform/gcp/secrets.tf). A
// secret without it is refused for writes and reads alike: keyhold hands out
// only material it imported.
//
// Compare-and-swap: AddSecretVersion has no precondition, and `latest` is
// simply the newest version, so it cannot be the current pointer. The current
// version is instead the secret's version alias `keyhold-current`, moved by
// UpdateSecret with the etag read before the write. The etag changes with
// every change to the secret but not with a new version
// (https://cloud.google.com/secret-manager/docs/etags), so of concurrent
// writers who read the same etag exactly one moves the alias; the others get
// FAILED_PRECONDITION → StateConflictError. A loser's version stays behind
// (the deployment's role may add versions but not destroy them) and is never
// current: reads follow the alias only.
//
// Integrity: every access checks the payload against its data_crc32c and
// refuses a mismatch or a missing checksum; every write sends data_crc32c so
// the service rejects a payload damaged on the way
// (https://cloud.google.com/secret-manager/docs/data-integrity).

import type { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import { serializeKeyMaterial, type KeyMaterial } from '../../core/key-material';
import {
  KeyStoreOwnershipError,
  KeyStoreValueTooLargeError,
  StateConflictError,
  StoreError,
  StoreUnavailableError,
  type Health,
  type KeyListing,
  type KeyStore,
  type StoredKey,
} from '../../ports';
import { crc32c } from './crc32c';
import { secretIdOf, validatorOf } from './secret-id';
import { listingsOf } from '../key-listing';
import { openStoredMaterial } from '../stored-material';

type Secret = protos.google.cloud.secretmanager.v1.ISecret;

/** SecretPayload.data "must be no larger than 64KiB" (google/cloud/secretmanager/v1/resources.proto). */
export const gcpPayloadLimit = 65536;
export const gcpOwnerLabel = { key: 'keyhold-owner', value: 'keyhold' } as const;
export const gcpCurrentAlias = 'keyhold-current';

// google.rpc.Code values (https://cloud.google.com/apis/design/errors).
export const grpcCode = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export const codeOf = (e: unknown): number | undefined => {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
};

const unavailableReasons: Record<number, string> = {
  [grpcCode.DEADLINE_EXCEEDED]: 'timeout',
  [grpcCode.RESOURCE_EXHAUSTED]: 'throttled',
  [grpcCode.UNAVAILABLE]: 'unreachable',
  [grpcCode.INTERNAL]: 'server_error',
  [grpcCode.UNKNOWN]: 'server_error',
  [grpcCode.ABORTED]: 'aborted',
  [grpcCode.CANCELLED]: 'cancelled',
};

const codeNames: Record<number, string> = Object.fromEntries(Object.entries(grpcCode).map(([k, v]) => [v, k]));

/** A client error in the port's terms: the status code's name at most, never the service's details text. */
export function translateGcpError(store: string, e: unknown, operation: string): StoreError {
  if (e instanceof StoreError) return e;
  const code = codeOf(e);
  if (code === undefined) return new StoreUnavailableError(store, 'client_error', { cause: e });
  const reason = unavailableReasons[code];
  if (reason) return new StoreUnavailableError(store, reason, { cause: e });
  return new StoreError(store, `${operation} failed (${codeNames[code] ?? `code ${code}`})`, { cause: e });
}

export interface GcpSecretManagerKeyStoreOptions {
  readonly client: SecretManagerServiceClient;
  readonly project: string;
  readonly prefix: string;
  /** Per call, ms: a little above the resilience wrapper's timeout. */
  readonly callTimeoutMs: number;
}

export class GcpSecretManagerKeyStore implements KeyStore {
  readonly name = 'gcp-secret-manager';
  private readonly client: SecretManagerServiceClient;
  private readonly project: string;
  private readonly prefix: string;
  // The resilience wrapper owns retries: the client's own (per-method
  // defaults in its service config) are switched off per call.
  private readonly call: { timeout: number; retry: null };

  constructor(opts: GcpSecretManagerKeyStoreOptions) {
    this.client = opts.client;
    this.project = opts.project;
    this.prefix = opts.prefix;
    this.call = { timeout: opts.callTimeoutMs, retry: null };
  }

  secretName(validator: string): string {
    let id: string;
    try {
      id = secretIdOf(this.prefix, validator);
    } catch {
      throw new StoreError(this.name, 'invalid validator id');
    }
    return `projects/${this.project}/secrets/${id}`;
  }

  private async getSecret(name: string): Promise<Secret | null> {
    try {
      const [secret] = await this.client.getSecret({ name }, this.call);
      return secret;
    } catch (e) {
      if (codeOf(e) === grpcCode.NOT_FOUND) return null;
      throw translateGcpError(this.name, e, 'GetSecret');
    }
  }

  private owned(s: Secret): boolean {
    return s.labels?.[gcpOwnerLabel.key] === gcpOwnerLabel.value;
  }

  async get(validator: string): Promise<StoredKey | null> {
    const name = this.secretName(validator);
    const secret = await this.getSecret(name);
    if (!secret) return null;
    if (!this.owned(secret)) throw new KeyStoreOwnershipError(this.name, validator);
    const current = secret.versionAliases?.[gcpCurrentAlias];
    if (current === undefined || current === null) return null;
    let response;
    try {
      [response] = await this.client.accessSecretVersion({ name: `${name}/versions/${String(current)}` }, this.call);
    } catch (e) {
      if (codeOf(e) === grpcCode.NOT_FOUND) return null;
      if (codeOf(e) === grpcCode.FAILED_PRECONDITION) throw new StoreError(this.name, `the current version for ${validator} is disabled or destroyed`, { cause: e });
      throw translateGcpError(this.name, e, 'AccessSecretVersion');
    }
    const data = response.payload?.data;
    const bytes = data instanceof Uint8Array ? data : typeof data === 'string' ? Buffer.from(data, 'base64') : undefined;
    if (!bytes) throw new StoreError(this.name, `the current version for ${validator} has no payload`);
    try {
      const given = response.payload?.dataCrc32c;
      // Never return material that does not match its checksum, or that came without one.
      if (given === undefined || given === null || Number(String(given)) !== crc32c(bytes)) {
        throw new StoreError(this.name, `the payload for ${validator} failed its CRC32C check`);
      }
      const version = /\/versions\/(\d+)$/.exec(response.name ?? '')?.[1];
      if (!version) throw new StoreError(this.name, 'AccessSecretVersion answered without a version number');
      return { material: openStoredMaterial(this.name, validator, bytes), version };
    } finally {
      bytes.fill(0);
    }
  }

  async put(validator: string, material: KeyMaterial): Promise<{ version: string }> {
    const name = this.secretName(validator);
    const data = Buffer.from(serializeKeyMaterial(material));
    try {
      if (data.length > gcpPayloadLimit) throw new KeyStoreValueTooLargeError(this.name, data.length, gcpPayloadLimit);
      const secret = (await this.getSecret(name)) ?? (await this.create(validator, name));
      if (!this.owned(secret)) throw new KeyStoreOwnershipError(this.name, validator);

      let added;
      try {
        [added] = await this.client.addSecretVersion({ parent: name, payload: { data, dataCrc32c: crc32c(data) } }, this.call);
      } catch (e) {
        throw translateGcpError(this.name, e, 'AddSecretVersion');
      }
      const version = /\/versions\/(\d+)$/.exec(added.name ?? '')?.[1];
      if (!version) throw new StoreError(this.name, 'AddSecretVersion answered without a version number');
      try {
        await this.client.updateSecret(
          {
            secret: { name, etag: secret.etag ?? '', versionAliases: { ...(secret.versionAliases ?? {}), [gcpCurrentAlias]: version } },
            updateMask: { paths: ['version_aliases'] },
          },
          this.call,
        );
      } catch (e) {
        const code = codeOf(e);
        if (code === grpcCode.FAILED_PRECONDITION || code === grpcCode.ABORTED) throw new StateConflictError(this.name, validator);
        throw translateGcpError(this.name, e, 'UpdateSecret');
      }
      return { version };
    } finally {
      data.fill(0);
    }
  }

  private async create(validator: string, name: string): Promise<Secret> {
    const secretId = name.slice(name.lastIndexOf('/') + 1);
    try {
      const [secret] = await this.client.createSecret(
        { parent: `projects/${this.project}`, secretId, secret: { replication: { automatic: {} }, labels: { [gcpOwnerLabel.key]: gcpOwnerLabel.value } } },
        this.call,
      );
      return secret;
    } catch (e) {
      const code = codeOf(e);
      // Created by a concurrent writer: carry on from what is there now (ownership still checked).
      if (code === grpcCode.ALREADY_EXISTS) {
        const now = await this.getSecret(name);
        if (now) return now;
      }
      if (code === grpcCode.PERMISSION_DENIED) {
        throw new StoreError(this.name, `no secret for ${validator} and keyhold may not create one: create ${secretId} with the label ${gcpOwnerLabel.key}=${gcpOwnerLabel.value}`, { cause: e });
      }
      throw translateGcpError(this.name, e, 'CreateSecret');
    }
  }

  async list(): Promise<KeyListing[]> {
    const validators: string[] = [];
    let pageToken: string | undefined;
    do {
      let secrets: Secret[];
      let next: { pageToken?: string | null } | null;
      try {
        [secrets, next] = await this.client.listSecrets(
          { parent: `projects/${this.project}`, filter: `labels.${gcpOwnerLabel.key}=${gcpOwnerLabel.value}`, pageSize: 100, ...(pageToken ? { pageToken } : {}) },
          { ...this.call, autoPaginate: false },
        );
      } catch (e) {
        throw translateGcpError(this.name, e, 'ListSecrets');
      }
      for (const s of secrets) {
        if (!this.owned(s)) continue;
        const v = validatorOf(this.prefix, (s.name ?? '').slice((s.name ?? '').lastIndexOf('/') + 1));
        if (v) validators.push(v);
      }
      pageToken = next?.pageToken ?? undefined;
    } while (pageToken);
    return listingsOf(validators, (v) => this.get(v));
  }

  async health(): Promise<Health> {
    // An id under the prefix that no validator maps to (ids start with [a-z0-9]).
    try {
      await this.client.getSecret({ name: `projects/${this.project}/secrets/${this.prefix}_keyhold-probe` }, this.call);
      return { state: 'ready' };
    } catch (e) {
      const code = codeOf(e);
      if (code === grpcCode.NOT_FOUND) return { state: 'ready' };
      if (code === grpcCode.RESOURCE_EXHAUSTED) return { state: 'unknown', detail: 'throttled' };
      const t = translateGcpError(this.name, e, 'GetSecret');
      return { state: 'error', detail: t instanceof StoreUnavailableError ? 'unreachable' : (codeNames[code ?? -1] ?? 'error').toLowerCase() };
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
