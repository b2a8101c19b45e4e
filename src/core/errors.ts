// One error tree for every refusal the broker makes. The public message is
// fixed per code: an error never carries caller data, store answers or key
// bytes, so it is safe to serialise as it is.

export const errorCodes = {
  invalid_request: { status: 400, message: 'The request is malformed.' },
  body_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json.' },
  unauthenticated: { status: 401, message: 'A valid bearer token is required.' },
  forbidden: { status: 403, message: 'The credential does not allow this operation.' },
  not_designated: { status: 403, message: 'This pod is not designated to hold this validator key.' },
  service_account_not_allowed: { status: 403, message: 'The pod\'s service account is not allowed to hold this validator key.' },
  slot_not_allowed: { status: 403, message: 'The slot is not among the validator\'s allowed slots.' },
  unknown_validator: { status: 404, message: 'No such validator.' },
  unknown_store: { status: 400, message: 'A named key store is not configured on this broker.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  validator_exists: { status: 409, message: 'The validator already exists with other slots.' },
  key_not_owned: { status: 409, message: 'A key store holds an object for this validator that keyhold does not own; refusing to overwrite it.' },
  key_in_use: { status: 409, message: 'This public key already belongs to another validator id; a key is imported under one id only, for ever.' },
  key_material_invalid: { status: 422, message: 'The key material is not valid for its format, or its public key does not match its secret.' },
  key_password_wrong: { status: 422, message: 'The keystore does not decrypt with the given password.' },
  key_too_large: { status: 413, message: 'The key material exceeds a key store\'s size limit.' },
  second_approver_required: { status: 409, message: 'This promotion needs a second, different operator to approve it.' },
  stale_epoch: { status: 409, message: 'The grant\'s epoch or pod instance is no longer current.' },
  conflict: { status: 409, message: 'The state changed concurrently; retry.' },
  invalid_grant: { status: 401, message: 'The grant is not valid.' },
  not_before: { status: 425, message: 'The designation takes effect later; retry after the indicated delay.' },
  state_store_unavailable: { status: 503, message: 'The state store is unavailable; retry later.' },
  key_store_unavailable: { status: 503, message: 'No key store could serve the key material; retry later.' },
  internal: { status: 500, message: 'Internal error.' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class KeyholdError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, for 425 and 503 answers. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(errorCodes[code].message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KeyholdError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.retryAfter = opts.retryAfter;
  }
}

export const isKeyholdError = (e: unknown): e is KeyholdError => e instanceof KeyholdError;
