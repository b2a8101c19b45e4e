// The HTTP contract, route by route: createApp registers exactly these (with
// the credential and body limit named here) and the OpenAPI document is
// generated from them, so the two cannot drift apart.

import { z } from 'zod';
import { auditQuery, fetchBody, uiSessionBody, holdersQuery, holdersResponse, importBody, promoteBody, releaseBody, renewBody, renewListLimit, slashingProtectionLimit, verifyBody, verifyBodyLimit } from './schemas';
import * as answer from './responses';

/** `viewer` and `operator` are operator roles; `operator` includes viewer. */
export type RouteAuth = 'none' | 'pod' | 'viewer' | 'operator';

export interface RouteAnswer {
  readonly description: string;
  /** JSON body; absent with `contentType` for other media. */
  readonly schema?: z.ZodType;
  readonly contentType?: string;
  readonly example?: unknown;
}

export interface RouteSpec {
  readonly method: 'get' | 'post' | 'put';
  /** OpenAPI path template; `{id}` is a validator id. */
  readonly path: string;
  readonly summary: string;
  readonly tag: 'pods' | 'operators' | 'public';
  readonly auth: RouteAuth;
  /** A timeline page session (src/identity/ui-session.ts) may call this too: audit reads only. */
  readonly session?: true;
  /** Changes nothing despite its method (a query too large for a URL): bearer operator tokens may call it. */
  readonly safe?: true;
  readonly body?: { readonly schema: z.ZodType; readonly maxBytes: number; readonly example: unknown };
  readonly query?: z.ZodObject;
  readonly answers: Readonly<Record<number, RouteAnswer>>;
}

export const smallBody = 16 * 1024;

// Examples carry no key material: the public key, grants and JWE below are
// shaped right but made of filler characters, and the "files" are
// base64 of a sentence saying so.
const exampleGrant = 'eyJhbGciOiJFZERTQSIsImtpZCI6ImV4YW1wbGUifQ.eyJzdWIiOiJ2MSJ9.ZXhhbXBsZS1zaWduYXR1cmU';
const exampleGrantAnswer = { validator: 'v1', slot: 'eu1/validators/v1-0', grant: exampleGrant, epoch: 3, expiresAt: '2026-11-22T12:02:00.000Z' };
const exampleRecord = {
  id: 'v1',
  slots: ['eu1/validators/v1-0', 'eu1/validators/v1-standby-0'],
  serviceAccounts: ['validator'],
  designation: { epoch: 3, slot: 'eu1/validators/v1-0', podUid: '1f0c1b2a-6b1e-4a8e-9d43-2f7f2a0c9e11', state: 'held', notBefore: '2026-11-22T12:00:00.000Z', updatedAt: '2026-11-22T12:00:00.000Z' },
  keyFingerprint: 'sha256:9f2b5c0e4d1a7c3b8e6f0a2d4c6e8b1a3f5d7c9e0b2a4c6e8f1d3b5a7c9e0f2d',
  keyFormat: 'eip2335',
  slashingProtection: true,
  genesisValidatorsRoot: `0x${'4b'.repeat(32)}`,
  predecessor: 'released',
  pendingPromotion: null,
  version: 7,
};
const notARealFile = Buffer.from('example only: not a real keystore').toString('base64');

export const routes = {
  health: { method: 'get', path: '/healthz', summary: 'Liveness: the process answers.', tag: 'public', auth: 'none', answers: { 200: { description: 'Alive.', schema: answer.health } } },
  ready: {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness per store (ready, degraded, down), from a probe cached for a few seconds.',
    tag: 'public',
    auth: 'none',
    answers: { 200: { description: 'Ready or degraded: keep in rotation.', schema: answer.readiness }, 503: { description: 'Every store is down.', schema: answer.readiness } },
  },
  metrics: {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics; served only when KEYHOLD_METRICS is public.',
    tag: 'public',
    auth: 'none',
    answers: { 200: { description: 'Prometheus text exposition.', contentType: 'text/plain' } },
  },
  jwks: {
    method: 'get',
    path: '/.well-known/jwks.json',
    summary: 'The public keys that verify grants.',
    tag: 'public',
    auth: 'none',
    answers: { 200: { description: 'JWK set.', schema: answer.jwks } },
  },
  operatorAudience: {
    method: 'get',
    path: '/v1/operator-audience',
    summary: 'The audience every operator request token for this deployment carries (KEYHOLD_OPERATOR_REQUEST_AUDIENCE, or derived from the signing key).',
    tag: 'public',
    auth: 'none',
    answers: { 200: { description: 'The audience.', schema: answer.operatorAudience } },
  },
  openapi: { method: 'get', path: '/openapi.json', summary: 'This document.', tag: 'public', auth: 'none', answers: { 200: { description: 'OpenAPI 3.1.', schema: answer.openApiSelf } } },

  fetchGrant: {
    method: 'post',
    path: '/v1/grants',
    summary: 'Ask for a grant and the key material (the init container), for one validator or a list.',
    tag: 'pods',
    auth: 'pod',
    body: { schema: fetchBody, maxBytes: smallBody, example: { validator: 'v1', ephemeralKey: { kty: 'OKP', crv: 'X25519', x: 'ZXhhbXBsZS1lcGhlbWVyYWwta2V5LW5vdC1yZWFsLTAwMA' } } },
    answers: {
      201: {
        description: 'Granted: the grant, and the key material encrypted to the ephemeral key.',
        schema: answer.grantIssued,
        example: { ...exampleGrantAnswer, predecessor: 'released', key: 'eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.ZXhhbXBsZQ.ZXhhbXBsZS1pdg.ZXhhbXBsZS1jaXBoZXJ0ZXh0.ZXhhbXBsZS10YWc' },
      },
      200: {
        description: 'For a body with `validators` (up to 1,000): one entry per validator, each decided, fenced and ledgered on its own.',
        schema: answer.grantsIssuedList,
        example: { results: [{ outcome: 'refused', validator: 'v2', status: 425, code: 'not_before', message: 'The designation takes effect later; retry after the indicated delay.', retryAfter: 31 }] },
      },
    },
  },
  renewGrant: {
    method: 'post',
    path: '/v1/grants/renew',
    summary: 'Renew a grant or a list of grants (the keeper): a later expiry, no key material.',
    tag: 'pods',
    auth: 'pod',
    // A list of 1,000 grants is the largest pod request there is.
    body: { schema: renewBody, maxBytes: renewListLimit, example: { grant: exampleGrant } },
    answers: {
      200: {
        description: 'Renewed; for a body with `grants` (up to 1,000), one entry per grant in `results`: one request, no key-store read, no state-store write.',
        schema: z.union([answer.grantAnswer, answer.grantsRenewedList]),
        example: exampleGrantAnswer,
      },
    },
  },
  releaseGrant: {
    method: 'post',
    path: '/v1/grants/release',
    summary: 'Release a grant, or acknowledge being fenced, handing back the EIP-3076 interchange.',
    tag: 'pods',
    auth: 'pod',
    body: { schema: releaseBody, maxBytes: slashingProtectionLimit + smallBody, example: { grant: exampleGrant, stop: 'proven', slashingProtection: { metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` }, data: [] } } },
    answers: { 200: { description: 'Released or acknowledged.', schema: answer.releaseAnswer, example: { outcome: 'released', epoch: 3, slashingProtection: 'stored' } } },
  },

  listValidators: { method: 'get', path: '/v1/validators', summary: 'Every validator and its designation.', tag: 'operators', auth: 'viewer', answers: { 200: { description: 'Validators.', schema: answer.validatorList } } },
  getValidator: { method: 'get', path: '/v1/validators/{id}', summary: 'One validator and its designation.', tag: 'operators', auth: 'viewer', answers: { 200: { description: 'The validator.', schema: answer.validatorView, example: exampleRecord } } },
  importKey: {
    method: 'put',
    path: '/v1/validators/{id}/key',
    summary: 'Import or rotate a validator\'s key material, with its allowed slots.',
    tag: 'operators',
    auth: 'operator',
    body: {
      schema: importBody,
      maxBytes: 512 * 1024,
      example: { format: 'eip2335', publicId: `0x${'ab'.repeat(48)}`, files: { 'keystore.json': notARealFile, 'password.txt': notARealFile }, slots: exampleRecord.slots, serviceAccounts: exampleRecord.serviceAccounts, genesisValidatorsRoot: exampleRecord.genesisValidatorsRoot, reason: 'onboarding' },
    },
    answers: { 201: { description: 'Imported into every named replica.', schema: answer.keyImported } },
  },
  promoteValidator: {
    method: 'post',
    path: '/v1/validators/{id}/promote',
    summary: 'Move the designation to another allowed slot.',
    tag: 'operators',
    auth: 'operator',
    body: { schema: promoteBody, maxBytes: smallBody, example: { slot: 'eu1/validators/v1-standby-0', reason: 'node drain' } },
    answers: {
      200: { description: 'Promoted.', schema: answer.promoted },
      202: { description: 'Proposed: a second, different operator must run the same promotion.', schema: answer.promotionPending },
    },
  },
  checkKeys: { method: 'get', path: '/v1/keys/check', summary: 'Compare every key replica with the designations.', tag: 'operators', auth: 'viewer', answers: { 200: { description: 'Per replica.', schema: answer.keysCheck } } },
  listKeys: { method: 'get', path: '/v1/keys', summary: 'Key replicas by fingerprint.', tag: 'operators', auth: 'viewer', answers: { 200: { description: 'Per replica.', schema: answer.keysList } } },
  queryAudit: {
    method: 'get',
    path: '/v1/audit',
    summary: 'Query the ledger.',
    tag: 'operators',
    auth: 'viewer',
    session: true,
    query: auditQuery,
    answers: { 200: { description: 'One page of entries; pass `cursor` for the next.', schema: answer.auditPage } },
  },
  verifyAudit: {
    method: 'get',
    path: '/v1/audit/verify',
    summary: 'Verify every chain and the latest checkpoint.',
    tag: 'operators',
    auth: 'viewer',
    answers: { 200: { description: 'The ledger verifies.', schema: answer.verifyReport }, 409: { description: 'The ledger fails verification: where.', schema: answer.verifyReport } },
  },
  verifyAuditTrusted: {
    method: 'post',
    path: '/v1/audit/verify',
    summary: 'Verify every chain and the checkpoint chain, and that it extends a checkpoint trusted from outside the store.',
    tag: 'operators',
    auth: 'viewer',
    safe: true,
    body: { schema: verifyBody, maxBytes: verifyBodyLimit, example: {} },
    answers: { 200: { description: 'The ledger verifies and extends the trusted checkpoint.', schema: answer.verifyReport }, 409: { description: 'The ledger fails verification: where.', schema: answer.verifyReport } },
  },
  holdersAudit: {
    method: 'get',
    path: '/v1/audit/holders',
    summary: 'Who held a validator\'s key, from when to when, per epoch, and how each holding ended (reconstructed from the ledger).',
    tag: 'operators',
    auth: 'viewer',
    session: true,
    query: holdersQuery,
    answers: { 200: { description: 'Holding intervals, oldest first.', schema: holdersResponse } },
  },
  exportAudit: {
    method: 'get',
    path: '/v1/audit/export',
    summary: 'The whole ledger with its checkpoints as NDJSON, for `keyhold audit verify --file` on another machine.',
    tag: 'operators',
    auth: 'viewer',
    answers: { 200: { description: 'A header line, the checkpoints, every chain\'s entries, and a trailer.', contentType: 'application/x-ndjson' } },
  },
  makeCheckpoint: {
    method: 'post',
    path: '/v1/audit/checkpoints',
    summary: 'Sign a checkpoint over every chain head now.',
    tag: 'operators',
    auth: 'operator',
    answers: { 201: { description: 'Signed and stored.', schema: answer.checkpointMade } },
  },

  // The timeline page: the page and its assets are public (they hold no
  // data); what they draw comes from the audit routes above, with a session.
  uiPage: { method: 'get', path: '/ui', summary: 'The timeline page: per validator, holding intervals over time, with the ledger\'s decisions marked.', tag: 'public', auth: 'none', answers: { 200: { description: 'The page (strict Content-Security-Policy; scripts and styles from this origin only).', contentType: 'text/html' } } },
  uiScript: { method: 'get', path: '/ui/timeline.js', summary: 'The timeline page\'s script.', tag: 'public', auth: 'none', answers: { 200: { description: 'JavaScript.', contentType: 'text/javascript' } } },
  uiStyle: { method: 'get', path: '/ui/timeline.css', summary: 'The timeline page\'s style sheet.', tag: 'public', auth: 'none', answers: { 200: { description: 'CSS.', contentType: 'text/css' } } },
  uiLoginCode: {
    method: 'post',
    path: '/v1/ui/login-codes',
    summary: 'A one-time login code for the timeline page (`keyhold ui`), valid for a minute.',
    tag: 'operators',
    auth: 'viewer',
    answers: { 201: { description: 'The code, and the page path that carries it.', schema: answer.uiLoginCode } },
  },
  uiSession: {
    method: 'post',
    path: '/v1/ui/sessions',
    summary: 'Trade a login code, once, for a short read-only session on the audit routes.',
    tag: 'public',
    auth: 'none',
    body: { schema: uiSessionBody, maxBytes: smallBody, example: { code: exampleGrant } },
    answers: { 201: { description: 'A session: a bearer for GET /v1/audit and GET /v1/audit/holders, for 15 minutes.', schema: answer.uiSession } },
  },
} as const satisfies Record<string, RouteSpec>;

export type RouteId = keyof typeof routes;
