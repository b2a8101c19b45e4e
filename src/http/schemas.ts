// Request bodies and query strings, checked once at the edge. Objects are
// strict: an unknown field is an error, not something silently ignored.

import { z } from 'zod';
import { signedCheckpointSchema } from '../core/checkpoints';
import { isKeyFileName } from '../core/key-material';
import { isServiceAccountName, isSlot, isValidatorId, slotPattern, validatorIdPattern } from '../core/names';
import { maxBatch } from '../broker/grant-batch';
import { ephemeralKeySchema } from '../grants/key-delivery';

// The patterns as well as the checks, so the published schemas carry them.
export const validatorId = z.string().max(63).regex(validatorIdPattern).refine(isValidatorId);
export const slot = z.string().max(381).regex(slotPattern).refine(isSlot);
const compactJws = z.string().max(4096).regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

const distinct = <T>(xs: readonly T[]) => new Set(xs).size === xs.length;

/** One validator (the original body), or a list: each is answered on its own. */
/** `wait`: seconds the broker may hold a 425 not_before answer for the designation to change (it caps this at KEYHOLD_FETCH_WAIT_MAX_SECONDS). */
export const fetchWait = z.number().int().min(0).max(60);
export const fetchBody = z.union([
  z.object({ validator: validatorId, ephemeralKey: ephemeralKeySchema, wait: fetchWait.optional() }).strict(),
  z.object({ validators: z.array(validatorId).min(1).max(maxBatch).refine(distinct), ephemeralKey: ephemeralKeySchema }).strict(),
]);
export const renewBody = z.union([
  z.object({ grant: compactJws }).strict(),
  z.object({ grants: z.array(compactJws).min(1).max(maxBatch).refine(distinct) }).strict(),
]);
/** A full list of renewals: the only pod request that may be this large. */
export const renewListLimit = maxBatch * 4200;

/**
 * EIP-3076 interchange, any JSON value: the core checks it against the
 * validator, and one that fails is refused with its own code while the
 * release still counts (the signer stopped either way).
 */
export const slashingProtectionLimit = 256 * 1024;
export const releaseBody = z
  .object({
    grant: compactJws,
    slashingProtection: z.unknown().optional(),
    /** The keeper's evidence that the signer stopped; absent counts as none. */
    stop: z.enum(['proven', 'unproven']).optional(),
  })
  .strict();

export const importBody = z
  .object({
    format: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,31}$/),
    publicId: z.string().min(1).max(256).regex(/^[A-Za-z0-9:._-]+$/),
    files: z
      .record(z.string().refine(isKeyFileName), z.string().max(64 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/))
      .refine((f) => Object.keys(f).length >= 1 && Object.keys(f).length <= 8),
    slots: z.array(slot).min(1).max(16).refine((s) => new Set(s).size === s.length),
    /** Service accounts (in each slot's namespace) whose pods may hold the key. */
    serviceAccounts: z.array(z.string().refine(isServiceAccountName)).min(1).max(8).refine((s) => new Set(s).size === s.length),
    reason: z.string().min(1).max(500).optional(),
    /** Only these replicas (by store name); default all. */
    stores: z.array(z.string().regex(/^[a-z0-9-]{1,40}$/)).min(1).max(8).optional(),
    /** The network's genesis validators root: required for eip2335 (checked in the route, for its own code). */
    genesisValidatorsRoot: z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional(),
  })
  .strict();

export const promoteBody = z.object({ slot, reason: z.string().trim().min(1).max(500) }).strict();

const time = z.union([z.string().regex(/^\d{1,16}$/).transform(Number), z.string().datetime({ offset: true }).transform((s) => Date.parse(s))]);

export const holdersQuery = z.object({ validator: validatorId, since: time.optional(), until: time.optional() }).strict();

/** One holding interval, as GET /v1/audit/holders answers it (times in ms; `to` null while held). */
export const holdingInterval = z.object({
  validator: z.string(),
  epoch: z.number().int(),
  slot: z.string(),
  pod: z.string(),
  from: z.number().int(),
  to: z.number().int().nullable(),
  ended: z.enum(['released', 'acknowledged', 'expired', 'fenced']).nullable(),
});
export const holdersResponse = z.object({ intervals: z.array(holdingInterval) });

export const auditQuery = z
  .object({
    validator: validatorId.optional(),
    slot: slot.optional(),
    action: z.string().regex(/^[a-z_]{1,32}$/).optional(),
    /** `pod:<uid>` or `operator:<name>`, either may be an `hmac-sha256:` pseudonym. */
    actor: z.string().regex(/^(pod|operator):[A-Za-z0-9:._@-]{1,128}$/).optional(),
    epoch: z.string().regex(/^\d{1,15}$/).transform(Number).optional(),
    pod: z.string().regex(/^[A-Za-z0-9:._-]{1,128}$/).optional(),
    since: time.optional(),
    until: time.optional(),
    cursor: z.string().max(512).regex(/^[A-Za-z0-9_-]+$/).optional(),
    limit: z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(1000)).optional(),
  })
  .strict();

/** `audit verify --trust`: the checkpoint an earlier verify saved, kept outside the store. */
export const verifyBody = z.object({ trust: signedCheckpointSchema.optional() }).strict();
/** A trusted checkpoint may be a keyframe, which names every chain head: room for tens of thousands of validators. */
export const verifyBodyLimit = 8 * 1024 * 1024;

/** The timeline page trades its one-time login code for a session. */
export const uiSessionBody = z.object({ code: compactJws }).strict();
