// What the broker answers, as schemas: the OpenAPI document is generated from
// these, and the HTTP tests check every answer they receive against them, so
// a field a route adds without saying so here fails a test.

import { z } from 'zod';
import { signedCheckpointSchema } from '../core/checkpoints';
import { errorCodes, type ErrorCode } from '../core/errors';
import { interchangeProblems, type InterchangeProblem } from '../core/slashing-protection';
import { slot, validatorId } from './schemas';

const isoTime = z.iso.datetime().meta({ examples: ['2026-11-22T12:00:00.000Z'] });
const compactJwt = z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
const compactJwe = z.string().regex(/^[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){4}$/);
const epoch = z.number().int().min(1);
const predecessor = z.enum(['none', 'released', 'acknowledged', 'unproven']).meta({
  description: 'How the previous holder ended: none (first holder), released or acknowledged (stopped, with its history), unproven (crash, expiry, or a stop without history: ask the client for doppelganger detection).',
});

export const errorResponse = z
  .object({
    code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
  })
  .meta({ examples: [{ code: 'stale_epoch', message: errorCodes.stale_epoch.message }] });

export const grantAnswer = z.object({
  validator: validatorId,
  slot,
  grant: compactJwt.meta({ description: 'The grant: a JWT signed by the broker (keys at /.well-known/jwks.json).' }),
  epoch,
  expiresAt: isoTime,
});

export const grantIssued = grantAnswer.extend({
  predecessor,
  key: compactJwe.meta({ description: 'The key material and its slashing-protection history, as a compact JWE (ECDH-ES+A256KW, A256GCM) to the ephemeral key of the request.' }),
});

/** One validator's refusal inside a list answer: what a single request would have been answered. */
const listRefusal = z.object({
  outcome: z.literal('refused'),
  validator: validatorId.nullable().meta({ description: 'null for a grant that does not verify' }),
  status: z.number().int(),
  code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  retryAfter: z.number().int().optional().meta({ description: 'seconds, as the Retry-After header of a single request' }),
});

export const grantsIssuedList = z.object({
  results: z.array(z.union([grantIssued.extend({ outcome: z.literal('issued') }), listRefusal])).meta({ description: 'One entry per requested validator, in the order asked.' }),
});

export const grantsRenewedList = z.object({
  results: z.array(z.union([grantAnswer.extend({ outcome: z.literal('renewed') }), listRefusal])).meta({ description: 'One entry per presented grant, in the order given.' }),
});

export const releaseAnswer = z.object({
  outcome: z.enum(['released', 'already_released', 'acknowledged', 'already_acknowledged']),
  epoch,
  slashingProtection: z.enum(['stored', 'refused', 'none']),
  slashingProtectionCode: z
    .enum(interchangeProblems as [InterchangeProblem, ...InterchangeProblem[]])
    .optional()
    .meta({ description: 'Why the interchange was not kept (the release or acknowledgement still counts).' }),
  stop: z.enum(['proven', 'unproven']).optional().meta({ description: 'For an acknowledgement: whether it moved notBefore (proven) or the successor waits out the horizon (unproven).' }),
});

export const validatorView = z.object({
  id: validatorId,
  slots: z.array(slot),
  serviceAccounts: z.array(z.string()).meta({ description: 'Service accounts (in each slot\'s namespace) whose pods may hold the key.' }),
  designation: z.object({
    epoch: z.number().int().min(0),
    slot,
    podUid: z.string().nullable(),
    state: z.enum(['vacant', 'held', 'released']),
    notBefore: isoTime,
    updatedAt: isoTime,
  }),
  keyFingerprint: z.string(),
  keyFormat: z.string(),
  slashingProtection: z.boolean().meta({ description: 'Whether an EIP-3076 interchange is kept for the next holder (never the interchange itself).' }),
  genesisValidatorsRoot: z.string().regex(/^0x[0-9a-f]{64}$/).nullable(),
  predecessor,
  pendingPromotion: z
    .object({ slot, fromEpoch: z.number().int().min(0), proposer: z.string(), reason: z.string(), expiresAt: isoTime })
    .nullable(),
  version: z.number().int(),
  grant: z
    .object({
      lastRenewal: isoTime.nullable().meta({ description: 'When the current holder last renewed, or null if it has not since its grant was issued.' }),
      expiresAt: isoTime.meta({ description: 'The `exp` of the newest grant for the current holder.' }),
      leftSeconds: z.number().int().min(0).meta({ description: 'How long that grant has left (0 once expired).' }),
      seenBy: z.literal('this-broker-instance').meta({ description: 'Renewals write nothing to the state store: this is what the answering broker instance served itself.' }),
    })
    .nullable()
    .optional()
    .meta({ description: 'Status answers only: the current holder\'s newest grant as this broker instance issued or renewed it; null when it served the holder none.' }),
});

export const validatorList = z.object({ validators: z.array(validatorView) });

export const keyImported = validatorView.extend({
  fingerprint: z.string(),
  replicas: z.array(z.object({ store: z.string(), version: z.string() })),
});

export const promoted = validatorView.extend({
  promotion: z.object({ status: z.literal('promoted'), approvers: z.array(z.string()) }),
});
export const promotionPending = validatorView.extend({
  promotion: z.object({ status: z.literal('pending'), needs: z.string(), expiresAt: isoTime }),
});

const replicaCheck = z.object({
  validator: validatorId,
  store: z.string(),
  status: z.enum(['ok', 'missing', 'differs', 'error']),
  version: z.string().nullable(),
  fingerprint: z.string().nullable(),
  error: z.string().optional(),
});
export const keysCheck = z.object({ ok: z.boolean(), replicas: z.array(replicaCheck) });
export const keysList = z.object({ replicas: z.array(replicaCheck) });

const hash = z.string().regex(/^[0-9a-f]{64}$/);
export const ledgerEntry = z.object({
  chain: z.string(),
  seq: z.number().int().min(1),
  time: z.number().int().meta({ description: 'Milliseconds since the epoch; `at` is the same instant.' }),
  at: isoTime,
  actor: z.string(),
  action: z.string().regex(/^[a-z_]{1,32}$/),
  validator: z.string().nullable(),
  epoch: z.number().int().nullable(),
  slot: z.string().nullable(),
  reason: z.string().nullable(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  prevHash: hash,
  hash,
});
export const auditPage = z.object({ entries: z.array(ledgerEntry), cursor: z.string().nullable() });

export const verifyReport = z.object({
  ok: z.boolean(),
  chains: z.number().int().min(0),
  entries: z.number().int().min(0),
  checkpoints: z.number().int().min(0).meta({ description: 'Checkpoints that verified in the checkpoint chain.' }),
  problem: z
    .object({
      chain: z.string(),
      seq: z.number().int(),
      fault: z.enum([
        'hash_mismatch',
        'broken_link',
        'sequence_gap',
        'wrong_chain',
        'truncated',
        'checkpoint_gap',
        'checkpoint_link',
        'checkpoint_digest',
        'checkpoint_signature',
        'checkpoint_regressed',
        'trust_missing',
        'trust_mismatch',
        'uncovered',
      ]),
    })
    .nullable(),
  checkpoint: z.object({ seq: z.number().int(), time: z.number().int(), digest: z.string(), verified: z.boolean() }).nullable(),
  trust: signedCheckpointSchema.optional().meta({ description: 'When ok: the newest checkpoint, to keep outside the store and pass as the next run\'s trust.' }),
});

export const checkpointMade = z.object({ seq: z.number().int().min(1), time: isoTime, digest: z.string(), chains: z.number().int().min(0) });

export const uiLoginCode = z.object({
  code: compactJwt.meta({ description: 'One-time login code for the timeline page: traded once, within a minute, at POST /v1/ui/sessions.' }),
  expiresAt: isoTime,
  path: z.string().regex(/^\/ui#code=/).meta({ description: 'Where to open it on the broker: the code rides in the fragment, which browsers never send to a server.' }),
});
export const uiSession = z.object({
  token: compactJwt.meta({ description: 'Bearer for the audit read routes only, kept in the page\'s memory.' }),
  expiresAt: isoTime,
  operator: z.string(),
});

export const health = z.object({ status: z.literal('ok') });

const storeStatus = z.enum(['ready', 'degraded', 'down']);
export const readiness = z.object({
  status: storeStatus,
  stores: z.array(z.object({ name: z.string(), role: z.enum(['state', 'key']), status: storeStatus, detail: z.string().optional() })),
});

export const jwks = z.object({
  keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string().optional(), use: z.string().optional(), crv: z.string().optional(), x: z.string().optional(), y: z.string().optional(), n: z.string().optional(), e: z.string().optional() })),
});

export const operatorAudience = z.object({
  audience: z.string().meta({ description: 'The `aud` of operator request tokens: a token signed for another deployment is refused here.' }),
});

/** The document itself: an object; its shape is OpenAPI's, checked by the contract test. */
export const openApiSelf = z.object({ openapi: z.string() }).catchall(z.unknown());
