// The checkpoint witness on S3: a bucket with Object Lock, each checkpoint
// written once under its own key, with a COMPLIANCE retention on the object
// itself, so it holds whatever the bucket's default says: in compliance mode
// no one, the root user included, can delete that version or shorten its
// retention before it ends (S3 User Guide, "Object Lock" > "Retention modes",
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).
// `If-None-Match: *` makes the write create-only (S3 conditional writes,
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html);
// what it cannot prevent (a new version by a writer who omits the header, a
// delete marker) stays visible in the version listing, which the reader
// checks (core/witness.ts).

import { GetObjectCommand, GetObjectLockConfigurationCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { witnessBody, witnessKey, type WitnessedObject } from '../../core/witness';
import type { Env } from '../../config';
import type { CheckpointWitness, StoredCheckpoint } from '../../ports';
import type { WitnessLocation } from '../../witness/location';

export interface S3WitnessOptions {
  readonly bucket: string;
  /** Ends with `/` or is empty. */
  readonly prefix: string;
  readonly retentionDays: number;
  readonly region?: string;
  /** Tests (moto): an endpoint, addressed path-style. */
  readonly endpoint?: string;
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly clock?: () => number;
}

const dayMs = 86_400_000;

export class S3Witness implements CheckpointWitness {
  readonly name: string;
  private readonly client: S3Client;
  private readonly now: () => number;

  constructor(private readonly o: S3WitnessOptions) {
    this.name = `s3://${o.bucket}/${o.prefix}`;
    this.now = o.clock ?? Date.now;
    this.client = new S3Client({
      ...(o.region ? { region: o.region } : {}),
      ...(o.endpoint ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 2000, requestTimeout: 10_000 },
    });
  }

  async writeOnce(): Promise<boolean> {
    try {
      const r = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.o.bucket }));
      return r.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (e) {
      if ((e as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') return false;
      throw e;
    }
  }

  async put(c: StoredCheckpoint): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.o.bucket,
          Key: witnessKey(this.o.prefix, c.seq),
          Body: witnessBody(c),
          ContentType: 'application/json',
          IfNoneMatch: '*',
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: new Date(this.now() + this.o.retentionDays * dayMs),
          // Object Lock puts need an integrity checksum (MD5 or a flexible one).
          ChecksumAlgorithm: 'SHA256',
        }),
      );
      return true;
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 412: the key exists. 409: a concurrent conditional write to it is in progress.
      if (status === 412 || status === 409) return false;
      throw e;
    }
  }

  async list(onPage?: (objects: number) => void): Promise<WitnessedObject[]> {
    const out: WitnessedObject[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListObjectVersionsCommand({ Bucket: this.o.bucket, Prefix: this.o.prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
      );
      // S3 lists the versions of each key newest first (and delete markers in
      // a list of their own): a later position is an older version.
      for (const v of page.Versions ?? []) if (v.Key && v.VersionId) out.push({ key: v.Key, version: v.VersionId, order: -out.length, deleteMarker: false });
      for (const d of page.DeleteMarkers ?? []) if (d.Key && d.VersionId) out.push({ key: d.Key, version: d.VersionId, order: -out.length, deleteMarker: true });
      onPage?.(out.length);
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
    return out;
  }

  async read(key: string, version: string): Promise<string> {
    const got = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: key, VersionId: version }));
    return got.Body!.transformToString();
  }

  close(): void {
    this.client.destroy();
  }
}

/** Region and (for tests) endpoint as the other AWS stores take them. */
export function openS3Witness(loc: WitnessLocation, env: Env, retentionDays: number): S3Witness {
  const region = env.KEYHOLD_AWS_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const endpoint = env.KEYHOLD_AWS_ENDPOINT || undefined;
  return new S3Witness({ bucket: loc.bucket, prefix: loc.prefix, retentionDays, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) });
}
