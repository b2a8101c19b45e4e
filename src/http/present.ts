// What operators see of records and ledger entries: times as ISO strings,
// and never the slashing-protection interchange itself, only whether one is kept.

import { predecessorOf, type ValidatorRecord } from '../core/designation';
import type { LedgerEntry } from '../core/ledger';

export const presentRecord = (r: ValidatorRecord) => ({
  id: r.id,
  slots: r.slots,
  serviceAccounts: r.serviceAccounts ?? [],
  designation: {
    ...r.designation,
    notBefore: new Date(r.designation.notBefore).toISOString(),
    updatedAt: new Date(r.designation.updatedAt).toISOString(),
  },
  keyFingerprint: r.keyFingerprint,
  keyFormat: r.keyFormat,
  slashingProtection: r.slashingProtection !== null,
  genesisValidatorsRoot: r.genesisValidatorsRoot ?? null,
  predecessor: predecessorOf(r),
  // Principals (key thumbprints, OIDC subjects) stay in the store: the name says who proposed.
  pendingPromotion: r.pendingPromotion
    ? { slot: r.pendingPromotion.slot, fromEpoch: r.pendingPromotion.fromEpoch, proposer: r.pendingPromotion.proposer, reason: r.pendingPromotion.reason, expiresAt: new Date(r.pendingPromotion.expiresAt).toISOString() }
    : null,
  version: r.version,
});

export const presentEntry = (e: LedgerEntry) => ({ ...e, at: new Date(e.time).toISOString() });
