// Every point where the emulator follows documentation or reported behaviour
// of the real service rather than something it can check here, in one place so
// that a correction is a one-line change. Sources:
//   [proto]  google/cloud/secretmanager/v1/{service,resources}.proto as shipped in
//            node_modules/@google-cloud/secret-manager/build/protos (field comments)
//   [etags]  https://cloud.google.com/secret-manager/docs/etags
//   [crc]    https://cloud.google.com/secret-manager/docs/data-integrity
//   [access] https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
//   [filter] https://cloud.google.com/secret-manager/docs/filtering
//   [codes]  https://cloud.google.com/apis/design/errors (google.rpc.Code meanings)
import { status } from '@grpc/grpc-js';
import { crc32c } from './crc32c';

/** [proto] SecretPayload.data: "Must be no larger than 64KiB". */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * [crc] says the service verifies a given checksum but not which code a
 * mismatch gets. A client-supplied value that contradicts the data is a bad
 * argument regardless of server state, which [codes] maps to INVALID_ARGUMENT
 * (Cloud KMS, whose checksums work the same way, answers INVALID_ARGUMENT).
 */
export const CHECKSUM_MISMATCH_CODE = status.INVALID_ARGUMENT;

/**
 * Empty payloads are refused; gcloud reports "Secret Payload cannot be empty"
 * from the API. Unconfirmed in the reference docs.
 */
export const REJECT_EMPTY_PAYLOAD = true;

/** [proto] CreateSecretRequest.secret_id. */
export const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;

/** [proto] Secret.version_aliases: ≤ 63 chars, starts with a letter, not 'latest' or 'NEW', ≤ 50. */
export const VERSION_ALIAS = /^[a-zA-Z][a-zA-Z0-9_-]{0,62}$/;
export const RESERVED_ALIASES = new Set(['latest', 'NEW']);
export const MAX_VERSION_ALIASES = 50;

/** [proto] Secret.labels: key and value patterns, ≤ 128 UTF-8 bytes each, ≤ 64 labels. */
export const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
export const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
export const MAX_LABEL_BYTES = 128;
export const MAX_LABELS = 64;

/** [proto] Secret.annotations: key pattern, ≤ 128 bytes, keys + values < 16 KiB in total. */
export const ANNOTATION_KEY = /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
export const MAX_ANNOTATION_KEY_BYTES = 128;
export const MAX_ANNOTATIONS_TOTAL_BYTES_EXCLUSIVE = 16 * 1024;

/** [proto] List*Request.page_size: 0 lets the server choose, above 25000 is capped. */
export const MAX_PAGE_SIZE = 25_000;

/**
 * What `versions/latest` names. [access] and [proto] say "the most recently
 * created SecretVersion", whatever its state, and users report that a disabled
 * or destroyed newest version makes `latest` fail with FAILED_PRECONDITION
 * "Secret Version [.../versions/4] is in DESTROYED state." rather than fall
 * back (github.com/external-secrets/external-secrets/issues/4042,
 * github.com/google-github-actions/get-secretmanager-secrets/issues/268).
 * WIRE.md says "newest enabled"; the documentation and those reports disagree,
 * so the documented behaviour is followed. Set to 'newest-enabled' to switch.
 */
export const LATEST_RESOLVES_TO: 'newest-created' | 'newest-enabled' = 'newest-created';

/**
 * [etags]: a no-op change still changes the etag; a version change does not
 * touch the secret's etag and vice versa. Real etags are quoted strings such
 * as "\"1620000000000000\"" (the docs' gcloud examples keep the quotes).
 */
let lastEtagMicros = 0n;
export function nextEtag(): string {
  const now = BigInt(Date.now()) * 1000n;
  lastEtagMicros = now > lastEtagMicros ? now : lastEtagMicros + 1n;
  return `"${lastEtagMicros.toString(16)}"`;
}

/**
 * The real service answers with `projects/<project number>/...` names even
 * when asked with the project ID (the [crc] sample response reads
 * "projects/123/secrets/my_secret/versions/2"). The emulator has no project
 * registry, so an ID maps to a stable made-up 12-digit number; an all-digit
 * project segment is taken to be a number already (project IDs must start
 * with a letter).
 */
export function projectNumberOf(projectIdOrNumber: string): string {
  if (/^\d+$/.test(projectIdOrNumber)) return projectIdOrNumber;
  return String(100_000_000_000 + crc32c(Buffer.from(projectIdOrNumber, 'utf8')));
}

/** Project IDs: 6-30 chars, lowercase letters, digits, hyphens, starting with a letter; leniently 1-63 here. */
export const PROJECT_SEGMENT = /^(?:[a-z][a-z0-9-]{0,62}|\d{1,20})$/;
export const LOCATION_SEGMENT = /^[a-z][a-z0-9-]{0,62}$/;

/** Message texts follow what users quote from the real service; tests never assert on them. */
export const messages = {
  secretNotFound: (name: string) => `Secret [${name}] not found or has no versions.`,
  versionNotFound: (name: string) => `Secret Version [${name}] not found.`,
  alreadyExists: (name: string) => `Secret [${name}] already exists.`,
  notEnabled: (name: string, state: string) => `Secret Version [${name}] is in ${state} state.`,
  etagMismatch: (what: string) => `The etag provided in the request does not match the current etag of the ${what}.`,
  throttled: 'Quota exceeded for quota metric \'Access requests\' (injected by the emulator).',
};

/**
 * UpdateSecret paths the emulator applies (snake_case, as [proto] names them;
 * camelCase is accepted too). Anything else, including immutable fields such
 * as replication, is INVALID_ARGUMENT. version_destroy_ttl (delayed destroy)
 * and customer-managed encryption are not emulated and are refused loudly.
 */
export const UPDATABLE_PATHS = new Set(['labels', 'annotations', 'version_aliases', 'topics', 'expire_time', 'ttl', 'rotation']);
export const NOT_EMULATED_PATHS = new Set(['version_destroy_ttl', 'customer_managed_encryption']);

/**
 * The update mask is REQUIRED in [proto]; an empty one is refused rather than
 * read as "update everything" (AIP-134 allows either; unconfirmed).
 */
export const REQUIRE_UPDATE_MASK = true;

/**
 * A global secret needs a replication policy (users report 400 "Secret must
 * be provided" / replication errors without one, e.g.
 * github.com/hashicorp/terraform-provider-google/issues/11395); a regional
 * secret must not have one (INVALID_ARGUMENT "Secret.replication should not be
 * provided.", github.com/airbytehq/airbyte/issues/73660).
 */
export const REQUIRE_GLOBAL_REPLICATION = true;

/**
 * Destroying, enabling or disabling a DESTROYED version is refused with
 * FAILED_PRECONDITION (DESTROYED is terminal per [proto]); the exact code for
 * destroy-after-destroy is unconfirmed.
 */
export const DESTROYED_IS_TERMINAL_CODE = status.FAILED_PRECONDITION;
