// A validator record as stores keep it (JSON). Stores are untrusted: what
// comes back is checked before the core decides anything from it.

import { z } from 'zod';
import type { ValidatorRecord } from '../core/designation';
import { readStoredInterchange } from '../core/slashing-protection';
import { StoreError } from '../ports';

const designation = z.object({
  epoch: z.number().int().positive(),
  slot: z.string(),
  podUid: z.string().nullable(),
  state: z.enum(['vacant', 'held', 'released']),
  notBefore: z.number().int(),
  updatedAt: z.number().int(),
});

export const validatorRecordSchema = z.object({
  id: z.string(),
  slots: z.array(z.string()).min(1),
  // Absent on records written before the policy existed: such a record admits nobody.
  serviceAccounts: z.array(z.string()).optional(),
  designation,
  // The broker's own merged interchange: one that does not read back is a corrupted record.
  slashingProtection: z.string().refine((s) => readStoredInterchange(s) !== null).nullable(),
  genesisValidatorsRoot: z.string().regex(/^0x[0-9a-f]{64}$/).nullable().optional(),
  predecessor: z.enum(['none', 'released', 'acknowledged', 'unproven']).optional(),
  stoppedEpochs: z.array(z.number().int().positive()).max(2).optional(),
  keyFingerprint: z.string(),
  keyFormat: z.string(),
  version: z.number().int().positive(),
  pendingPromotion: z
    .object({ slot: z.string(), fromEpoch: z.number().int().positive(), proposer: z.string(), proposerPrincipals: z.array(z.string()).max(8).optional(), reason: z.string(), expiresAt: z.number().int() })
    .nullable()
    .optional(),
});

export function parseRecord(json: string | unknown): ValidatorRecord {
  try {
    return validatorRecordSchema.parse(typeof json === 'string' ? JSON.parse(json) : json);
  } catch (e) {
    throw new StoreError('state', 'a stored validator record is malformed', { cause: e });
  }
}
