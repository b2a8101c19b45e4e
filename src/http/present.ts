// What operators see of records and ledger entries: times as ISO strings,
// and never the slashing-protection interchange itself, only whether one is kept.

import { predecessorOf, type ValidatorRecord } from '../core/designation';
import type { LedgerEntry } from '../core/ledger';
import type { LastGrants } from '../broker/last-grants';

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

/** A status answer: the record, and the current holder's newest grant as this instance served it. */
export const presentStatus = (r: ValidatorRecord, grants: LastGrants, now: number) => {
  const d = r.designation;
  const n = d.state === 'held' ? grants.forHolder(r.id, d.epoch, d.podUid) : null;
  return {
    ...presentRecord(r),
    grant: n
      ? { lastRenewal: n.kind === 'renewed' ? new Date(n.at).toISOString() : null, expiresAt: new Date(n.exp).toISOString(), leftSeconds: Math.max(0, Math.floor((n.exp - now) / 1000)), seenBy: 'this-broker-instance' as const }
      : null,
  };
};

export const presentEntry = (e: LedgerEntry) => ({ ...e, at: new Date(e.time).toISOString() });
