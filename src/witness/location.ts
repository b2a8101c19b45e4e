// KEYHOLD_CHECKPOINT_WITNESS=s3://bucket/prefix/ | gs://bucket/prefix/: where
// the broker copies each checkpoint and where `keyhold audit verify
// --witness` reads them back. No SDK here: config parses it at start.

export interface WitnessLocation {
  readonly scheme: 's3' | 'gs';
  readonly bucket: string;
  /** Empty or ending in `/`. */
  readonly prefix: string;
}

// Bucket names both clouds accept (3-63 lower-case letters, digits, dots,
// dashes); prefixes of the characters both call safe in object names.
const locationPattern = /^(s3|gs):\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/([A-Za-z0-9!_.*'()/-]{0,512}))?$/;

/** Null when `value` is not such a URL. */
export function parseWitnessLocation(value: string): WitnessLocation | null {
  const m = locationPattern.exec(value);
  if (!m) return null;
  const raw = m[3] ?? '';
  return { scheme: m[1] as 's3' | 'gs', bucket: m[2]!, prefix: raw === '' || raw.endsWith('/') ? raw : `${raw}/` };
}

export const witnessUrl = (l: WitnessLocation): string => `${l.scheme}://${l.bucket}/${l.prefix}`;

/** Object Lock retention put on each checkpoint object (S3): seven years unless set. */
export const defaultWitnessRetentionDays = 2555;
