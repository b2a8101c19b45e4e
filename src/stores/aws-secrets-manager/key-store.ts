// Key material in AWS Secrets Manager, one secret per validator at
// `<prefix><validator>`, the value being the JSON of serializeKeyMaterial()
// as the SecretString.
//
// Ownership: every secret keyhold creates carries the tag keyhold:owner=keyhold
// (the deployment's IAM policy also keys its write permissions on that tag,
// infra/terraform/aws/iam.tf). A secret without it is refused for writes AND
// reads: keyhold hands out only material it imported, never a value someone
// else put under its prefix.
//
// Compare-and-swap: a new value is first put under a private staging label
// (which leaves AWSCURRENT where it is), then AWSCURRENT is moved to it with
// RemoveFromVersionId naming the version read. UpdateSecretVersionStage fails
// with InvalidParameterException when AWSCURRENT is no longer on that version
// (API reference, UpdateSecretVersionStage: "If the staging label is already
// attached to a different version of the secret, then you must also specify
// the RemoveFromVersionId parameter"; WIRE.md), so of two concurrent writers
// exactly one moves it and the other gets StateConflictError. The loser's
// staged version is left unlabelled-but-for-staging and never becomes current.
//
// Reads resolve AWSCURRENT with DescribeSecret and then fetch that VersionId:
// the tag check and the value come from one consistent view, and it does not
// depend on GetSecretValue's default stage (moto 5.2.1 keeps serving the old
// default after UpdateSecretVersionStage; AWS serves AWSCURRENT).

import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type DescribeSecretCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { serializeKeyMaterial, type KeyMaterial } from '../../core/key-material';
import { isValidatorId } from '../../core/names';
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
import { listingsOf } from '../key-listing';
import { openStoredMaterial } from '../stored-material';

/** SecretString "Maximum length of 65536" (Secrets Manager API reference, CreateSecret / PutSecretValue). */
export const awsSecretStringLimit = 65536;
export const awsOwnerTag = { Key: 'keyhold:owner', Value: 'keyhold' } as const;
/** The private label a new value waits under until AWSCURRENT is moved to it. */
export const awsStagingLabel = 'keyhold-staged';
const current = 'AWSCURRENT';

export interface AwsSecretsManagerKeyStoreOptions {
  readonly client: SecretsManagerClient;
  readonly prefix: string;
  readonly kmsKeyId?: string;
}

// Error names the SDK itself treats as throttling (@smithy/service-error-classification
// THROTTLING_ERROR_CODES, the subset Secrets Manager uses).
const throttling = new Set(['ThrottlingException', 'TooManyRequestsException', 'LimitExceededException', 'RequestLimitExceeded', 'Throttling']);

interface SdkError {
  name?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

const nameOf = (e: unknown): string => {
  const n = (e as SdkError | null)?.name;
  return typeof n === 'string' && /^[A-Za-z]{1,60}$/.test(n) ? n : 'Error';
};

export const isNotFound = (e: unknown): boolean => nameOf(e) === 'ResourceNotFoundException';

/**
 * An SDK error in the port's terms. Messages carry the error's class name at
 * most, never the service's message text (which can quote request content).
 */
export function translateAwsError(store: string, e: unknown, operation: string): StoreError {
  if (e instanceof StoreError) return e;
  const err = (e ?? {}) as SdkError;
  const name = nameOf(e);
  const status = err.$metadata?.httpStatusCode;
  if (throttling.has(name)) return new StoreUnavailableError(store, 'throttled', { cause: e });
  if (err.$fault === 'server' || (status !== undefined && status >= 500)) return new StoreUnavailableError(store, 'server_error', { cause: e });
  if (name === 'TimeoutError') return new StoreUnavailableError(store, 'timeout', { cause: e });
  if (name === 'CredentialsProviderError') return new StoreError(store, `${operation}: no AWS credentials could be loaded`, { cause: e });
  // No HTTP answer at all: reset, refused, DNS, aborted.
  if (status === undefined) return new StoreUnavailableError(store, 'network', { cause: e });
  return new StoreError(store, `${operation} failed (${name})`, { cause: e });
}

export class AwsSecretsManagerKeyStore implements KeyStore {
  readonly name = 'aws-secrets-manager';
  private readonly client: SecretsManagerClient;
  private readonly prefix: string;
  private readonly kmsKeyId: string | undefined;

  constructor(opts: AwsSecretsManagerKeyStoreOptions) {
    this.client = opts.client;
    this.prefix = opts.prefix;
    this.kmsKeyId = opts.kmsKeyId;
  }

  secretName(validator: string): string {
    if (!isValidatorId(validator)) throw new StoreError(this.name, 'invalid validator id');
    return `${this.prefix}${validator}`;
  }

  private async describe(secretId: string): Promise<DescribeSecretCommandOutput | null> {
    try {
      return await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw translateAwsError(this.name, e, 'DescribeSecret');
    }
  }

  private owned(d: DescribeSecretCommandOutput): boolean {
    return (d.Tags ?? []).some((t) => t.Key === awsOwnerTag.Key && t.Value === awsOwnerTag.Value);
  }

  private currentVersion(d: DescribeSecretCommandOutput): string | undefined {
    for (const [id, stages] of Object.entries(d.VersionIdsToStages ?? {})) if (stages.includes(current)) return id;
    return undefined;
  }

  async get(validator: string): Promise<StoredKey | null> {
    const d = await this.describe(this.secretName(validator));
    if (!d) return null;
    if (!this.owned(d)) throw new KeyStoreOwnershipError(this.name, validator);
    // A secret scheduled for deletion holds nothing keyhold may serve.
    if (d.DeletedDate) return null;
    const versionId = this.currentVersion(d);
    if (!versionId) return null;
    let value: string | undefined;
    let version: string | undefined;
    try {
      const r = await this.client.send(new GetSecretValueCommand({ SecretId: d.ARN, VersionId: versionId }));
      value = r.SecretString;
      version = r.VersionId;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw translateAwsError(this.name, e, 'GetSecretValue');
    }
    if (value === undefined || !version) throw new StoreError(this.name, `the secret for ${validator} holds no string value`);
    return { material: openStoredMaterial(this.name, validator, new TextEncoder().encode(value)), version };
  }

  async put(validator: string, material: KeyMaterial): Promise<{ version: string }> {
    const secretId = this.secretName(validator);
    const bytes = serializeKeyMaterial(material);
    const size = bytes.length;
    // JS strings cannot be wiped; the bytes at least can.
    const value = new TextDecoder().decode(bytes);
    bytes.fill(0);
    if (size > awsSecretStringLimit) throw new KeyStoreValueTooLargeError(this.name, size, awsSecretStringLimit);

    const d = await this.describe(secretId);
    if (!d) return this.create(validator, secretId, value);
    if (!this.owned(d)) throw new KeyStoreOwnershipError(this.name, validator);
    if (d.DeletedDate) throw new StoreError(this.name, `the secret for ${validator} is scheduled for deletion; restore it first`);
    const read = this.currentVersion(d);

    let staged: string | undefined;
    try {
      staged = (await this.client.send(new PutSecretValueCommand({ SecretId: d.ARN, SecretString: value, VersionStages: [awsStagingLabel] }))).VersionId;
    } catch (e) {
      throw translateAwsError(this.name, e, 'PutSecretValue');
    }
    if (!staged) throw new StoreError(this.name, 'PutSecretValue returned no version id');
    try {
      await this.client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: d.ARN,
          VersionStage: current,
          MoveToVersionId: staged,
          // Absent only when no version is current yet; then the move fails if
          // another writer made one current in the meantime.
          ...(read ? { RemoveFromVersionId: read } : {}),
        }),
      );
    } catch (e) {
      if (nameOf(e) === 'InvalidParameterException') throw new StateConflictError(this.name, validator);
      throw translateAwsError(this.name, e, 'UpdateSecretVersionStage');
    }
    return { version: staged };
  }

  private async create(validator: string, secretId: string, value: string): Promise<{ version: string }> {
    try {
      const r = await this.client.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: value,
          Description: `keyhold key material for validator ${validator}`,
          Tags: [{ ...awsOwnerTag }],
          ...(this.kmsKeyId ? { KmsKeyId: this.kmsKeyId } : {}),
        }),
      );
      if (!r.VersionId) throw new StoreError(this.name, 'CreateSecret returned no version id');
      return { version: r.VersionId };
    } catch (e) {
      // Another writer created it between our DescribeSecret and CreateSecret.
      if (nameOf(e) === 'ResourceExistsException') throw new StateConflictError(this.name, validator);
      throw translateAwsError(this.name, e, 'CreateSecret');
    }
  }

  async list(): Promise<KeyListing[]> {
    const validators: string[] = [];
    let next: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListSecretsCommand({
            // The name filter is a case-insensitive prefix match; both are re-checked below.
            Filters: [
              { Key: 'name', Values: [this.prefix] },
              { Key: 'tag-key', Values: [awsOwnerTag.Key] },
            ],
            MaxResults: 100,
            ...(next ? { NextToken: next } : {}),
          }),
        );
      } catch (e) {
        throw translateAwsError(this.name, e, 'ListSecrets');
      }
      for (const s of page.SecretList ?? []) {
        if (!s.Name?.startsWith(this.prefix) || s.DeletedDate) continue;
        if (!(s.Tags ?? []).some((t) => t.Key === awsOwnerTag.Key && t.Value === awsOwnerTag.Value)) continue;
        const v = s.Name.slice(this.prefix.length);
        if (isValidatorId(v)) validators.push(v);
      }
      next = page.NextToken;
    } while (next);
    return listingsOf(validators, (v) => this.get(v));
  }

  async health(): Promise<Health> {
    // A name under the prefix that no validator id can take (ids start with
    // [a-z0-9]): allowed by the deployment's IAM policy, and never found.
    try {
      await this.client.send(new DescribeSecretCommand({ SecretId: `${this.prefix}_keyhold-probe` }));
      return { state: 'ready' };
    } catch (e) {
      if (isNotFound(e)) return { state: 'ready' };
      const t = translateAwsError(this.name, e, 'DescribeSecret');
      if (t instanceof StoreUnavailableError && throttling.has(nameOf(e))) return { state: 'unknown', detail: 'throttled' };
      return { state: 'error', detail: t instanceof StoreUnavailableError ? 'unreachable' : nameOf(e) };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
