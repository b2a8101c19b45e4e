// Reads of the ledger that both the checkpointer and the audit need: the
// entries at given positions, and the checkpoints a fold starts from.

import { keyframeOf } from '../core/checkpoints';
import type { ChainHead } from '../core/ledger';
import { eachBounded } from '../each-bounded';
import type { StateStore, StoredCheckpoint } from '../ports';

/** Point reads in flight at once. */
const readsAtOnce = 16;

/** chain → hash of its entry at the seq `positions` names; a chain whose entry is not there is left out. */
export async function hashesAtPositions(state: StateStore, positions: readonly ChainHead[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await eachBounded(positions, readsAtOnce, async (h) => {
    const [e] = await state.readChain(h.chain, h.seq, 1);
    if (e && e.seq === h.seq) out.set(h.chain, e.hash);
  });
  return out;
}

/** `latest` and the checkpoints back to its keyframe, oldest first (at most keyframeEvery), as stored. */
export async function sinceKeyframe(state: StateStore, latest: StoredCheckpoint): Promise<StoredCheckpoint[]> {
  const from = keyframeOf(latest);
  return from === latest.seq ? [latest] : state.listCheckpoints(from, latest.seq - from + 1);
}
