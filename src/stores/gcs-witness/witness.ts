// The checkpoint witness on Cloud Storage: a bucket whose retention policy is
// locked, so an object "cannot be deleted or replaced until it reaches the
// specified age", and the policy itself can no longer be removed or shortened
// (https://cloud.google.com/storage/docs/bucket-lock). Each checkpoint is
// created with `ifGenerationMatch=0` (only if no live object has that name,
// https://cloud.google.com/storage/docs/request-preconditions). The bucket's
// lock is checked before the first write and reported to auditors: an
// unlocked bucket is not a witness.

import { Storage, type Bucket, type GetFilesResponse } from '@google-cloud/storage';
import { witnessBody, witnessKey, type WitnessedObject } from '../../core/witness';
import type { Env } from '../../config';
import type { CheckpointWitness, StoredCheckpoint } from '../../ports';
import type { WitnessLocation } from '../../witness/location';
import { WitnessNotWriteOnceError } from '../../witness/errors';

export interface GcsWitnessOptions {
  readonly bucket: string;
  readonly prefix: string;
  readonly projectId?: string;
  /** Tests: the emulator's address (no credentials are sent to it). */
  readonly endpoint?: string;
}

export class GcsWitness implements CheckpointWitness {
  readonly name: string;
  private readonly storage: Storage;
  private readonly bucket: Bucket;
  private locked: Promise<boolean> | null = null;

  constructor(private readonly o: GcsWitnessOptions) {
    this.name = `gs://${o.bucket}/${o.prefix}`;
    this.storage = new Storage({
      ...(o.projectId ? { projectId: o.projectId } : {}),
      ...(o.endpoint ? { apiEndpoint: o.endpoint } : {}),
      // Our own retry: a failed witness write is retried on the next checkpoint.
      retryOptions: { autoRetry: false },
    });
    this.bucket = this.storage.bucket(o.bucket);
  }

  /** Whether the bucket's retention policy is locked (re-asked after a failure). */
  async writeOnce(): Promise<boolean> {
    this.locked ??= this.bucket.getMetadata().then(
      ([m]) => m.retentionPolicy?.isLocked === true && Number(m.retentionPolicy.retentionPeriod ?? 0) > 0,
      (e: unknown) => {
        this.locked = null;
        throw e;
      },
    );
    return this.locked;
  }

  async put(c: StoredCheckpoint): Promise<boolean> {
    if (!(await this.writeOnce())) throw new WitnessNotWriteOnceError(this.name);
    try {
      await this.bucket.file(witnessKey(this.o.prefix, c.seq)).save(witnessBody(c), {
        resumable: false,
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch: 0 },
      });
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code === 412) return false;
      throw e;
    }
  }

  async list(onPage?: (objects: number) => void): Promise<WitnessedObject[]> {
    const out: WitnessedObject[] = [];
    let query: { prefix: string; autoPaginate: false; pageToken?: string; maxResults: number } | null = { prefix: this.o.prefix, autoPaginate: false, maxResults: 1000 };
    while (query) {
      const [files, next]: GetFilesResponse = await this.bucket.getFiles(query);
      for (const f of files) out.push({ key: f.name, version: String(f.metadata.generation), order: Number(f.metadata.generation), deleteMarker: false });
      onPage?.(out.length);
      const token: string | undefined = (next as { pageToken?: string } | null)?.pageToken;
      query = token ? { ...query, pageToken: token } : null;
    }
    return out;
  }

  async read(key: string, version: string): Promise<string> {
    const [data] = await this.bucket.file(key, { generation: Number(version) }).download();
    return data.toString('utf8');
  }

  close(): void {
    // The client holds no sockets between requests.
  }
}

/** Project as the other GCP stores take it; KEYHOLD_GCS_ENDPOINT for the emulator. */
export function openGcsWitness(loc: WitnessLocation, env: Env): GcsWitness {
  const projectId = env.KEYHOLD_GCP_PROJECT || env.GOOGLE_CLOUD_PROJECT || undefined;
  const endpoint = env.KEYHOLD_GCS_ENDPOINT || undefined;
  return new GcsWitness({ bucket: loc.bucket, prefix: loc.prefix, ...(projectId ? { projectId } : {}), ...(endpoint ? { endpoint } : {}) });
}
