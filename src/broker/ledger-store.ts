// The state store as the services see it: each commit's drafts are
// pseudonymised first when the install has a ledger HMAC key, and each
// commit is reported to the checkpointer after. A Proxy, so optional
// capabilities of the store (parallel verification) pass through untouched.

import { pseudonymiseDraft, type Pseudonymiser } from '../core/pseudonyms';
import type { Commit, StateStore } from '../ports';
import type { Checkpointer } from './checkpointer';

export function ledgerStore(store: StateStore, opts: { checkpointer: Checkpointer; pseudonyms?: Pseudonymiser | undefined }): StateStore {
  const { checkpointer, pseudonyms } = opts;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'commit') {
        return async (c: Commit) => {
          const out = await target.commit(pseudonyms ? { ...c, entries: c.entries.map((d) => pseudonymiseDraft(d, pseudonyms)) } : c);
          await checkpointer.afterCommit(out);
          return out;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
