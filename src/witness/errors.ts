/** The witness bucket is not write-once (no locked retention / Object Lock): nothing written there proves anything. */
export class WitnessNotWriteOnceError extends Error {
  readonly code = 'witness_not_write_once';
  constructor(witness: string) {
    super(`${witness} is not write-once: lock its retention policy (GCS) or enable Object Lock (S3); see infra/terraform`);
    this.name = 'WitnessNotWriteOnceError';
  }
}
