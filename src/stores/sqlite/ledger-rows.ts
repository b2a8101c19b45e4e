// Ledger rows as the SQLite store reads them (arrays, not keyed objects:
// verify reads every entry, and keyed rows cost a third more).

import type { LedgerEntry } from '../../core/ledger';

export const ledgerColumns = ['chain', 'seq', 'time', 'actor', 'action', 'validator', 'epoch', 'slot', 'reason', 'details', 'prev_hash', 'hash'] as const;

export const fromRawRow = (r: unknown[]): LedgerEntry => ({
  chain: r[0] as string,
  seq: r[1] as number,
  time: r[2] as number,
  actor: r[3] as string,
  action: r[4] as LedgerEntry['action'],
  validator: r[5] as string | null,
  epoch: r[6] as number | null,
  slot: r[7] as string | null,
  reason: r[8] as string | null,
  details: JSON.parse(r[9] as string) as LedgerEntry['details'],
  prevHash: r[10] as string,
  hash: r[11] as string,
});
