// One error tree for every refusal the broker makes. The public message is
// fixed per code: an error never carries caller data, store answers or key
// bytes, so it is safe to serialise as it is.
//
// This table is also the published catalogue: a new code is one line here,
// and the OpenAPI document lists it. `on` says where it can be answered, so
// each route's documented answers stay honest: route ids (the operationId),
// or a group: 'pod' and 'operator' (routes with that credential; 'operator'
// includes viewer routes) and 'body' (routes that take a request body).
// Without `on`, a code is documented on every route.

export interface ErrorCodeSpec {
  readonly status: number;
  readonly message: string;
  readonly on?: readonly string[];
}

const authenticated = ['pod', 'operator'] as const;

export const errorCodes = {
  invalid_request: { status: 400, message: 'The request is malformed.', on: [...authenticated, 'uiSession'] },
  body_too_large: { status: 413, message: 'The request body is too large.', on: ['body'] },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json.', on: ['body'] },
  unauthenticated: { status: 401, message: 'A valid bearer token is required.', on: authenticated },
  forbidden: { status: 403, message: 'The credential does not allow this operation.', on: ['operator'] },
  token_expired: { status: 401, message: 'The operator request token has expired; sign a new request.', on: ['operator'] },
  token_mismatch: { status: 401, message: 'The operator request token was signed for another method, path, body or deployment.', on: ['operator'] },
  token_replayed: { status: 401, message: 'The operator request token was already used; every request needs a new one.', on: ['operator'] },
  signed_request_required: { status: 403, message: 'This operation changes state: it needs a signed operator request token, or an OIDC token bound to a key (cnf.jkt) with a DPoP proof from that key.', on: ['operator'] },
  not_designated: { status: 403, message: 'This pod is not designated to hold this validator key.', on: ['pod'] },
  service_account_not_allowed: { status: 403, message: 'The pod\'s service account is not allowed to hold this validator key.', on: ['pod'] },
  slot_not_allowed: { status: 403, message: 'The slot is not among the validator\'s allowed slots.', on: ['fetchGrant', 'promoteValidator'] },
  unknown_validator: { status: 404, message: 'No such validator.', on: authenticated },
  unknown_store: { status: 400, message: 'A named key store is not configured on this broker.', on: ['importKey'] },
  ledger_inconsistent: { status: 409, message: 'The stored ledger does not extend the last signed checkpoint, so the broker will not sign over it; run keyhold audit verify.', on: ['makeCheckpoint'] },
  invalid_trust: { status: 400, message: 'The trusted checkpoint is malformed or not signed by this broker.', on: ['verifyAuditTrusted'] },
  login_code_invalid: { status: 401, message: 'The login code is not one this broker issued.', on: ['uiSession'] },
  login_code_expired: { status: 401, message: 'The login code has expired; run keyhold ui again.', on: ['uiSession'] },
  login_code_used: { status: 409, message: 'The login code was already used; run keyhold ui again.', on: ['uiSession'] },
  not_found: { status: 404, message: 'Not found.', on: [] },
  method_not_allowed: { status: 405, message: 'Method not allowed.', on: [] },
  validator_exists: { status: 409, message: 'The validator already exists with other slots.', on: ['importKey'] },
  genesis_validators_root_required: { status: 400, message: 'EIP-2335 key material needs the genesis validators root of its network.', on: ['importKey'] },
  genesis_validators_root_mismatch: { status: 409, message: 'The validator was imported with another genesis validators root.', on: ['importKey'] },
  key_not_owned: { status: 409, message: 'A key store holds an object for this validator that keyhold does not own; refusing to overwrite it.', on: ['importKey'] },
  key_in_use: { status: 409, message: 'This public key already belongs to another validator id; a key is imported under one id only, for ever.', on: ['importKey'] },
  key_material_invalid: { status: 422, message: 'The key material is not valid for its format, or its public key does not match its secret.', on: ['importKey'] },
  key_password_wrong: { status: 422, message: 'The keystore does not decrypt with the given password.', on: ['importKey'] },
  key_too_large: { status: 413, message: 'The key material exceeds a key store\'s size limit.', on: ['importKey'] },
  second_approver_required: { status: 409, message: 'This promotion needs a second, different operator to approve it.', on: ['promoteValidator'] },
  stale_epoch: { status: 409, message: 'The grant\'s epoch or pod instance is no longer current.', on: ['pod'] },
  conflict: { status: 409, message: 'The state changed concurrently; retry.', on: authenticated },
  invalid_grant: { status: 401, message: 'The grant is not valid.', on: ['pod'] },
  not_before: { status: 425, message: 'The designation takes effect later; retry after the indicated delay.', on: ['fetchGrant'] },
  state_store_unavailable: { status: 503, message: 'The state store is unavailable; retry later.', on: [...authenticated, 'uiSession'] },
  key_store_unavailable: { status: 503, message: 'No key store could serve the key material; retry later.', on: authenticated },
  /** A function that cannot compose its broker (the reason is in its log): any route. */
  broker_unavailable: { status: 503, message: 'The broker is not available; retry later.' },
  internal: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, ErrorCodeSpec>;

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
