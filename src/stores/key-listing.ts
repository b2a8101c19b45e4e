// What every key store's list() ends with: read each current value and
// fingerprint the material itself, never a tag or label that could drift from
// the version it describes; then wipe it. Objects keyhold does not own are
// skipped, not listed.

import { fingerprint } from '../core/key-material';
import { KeyStoreOwnershipError, type KeyListing, type StoredKey } from '../ports';

export async function listingsOf(validators: readonly string[], get: (validator: string) => Promise<StoredKey | null>): Promise<KeyListing[]> {
  const out: KeyListing[] = [];
  for (const v of [...validators].sort()) {
    let got: StoredKey | null;
    try {
      got = await get(v);
    } catch (e) {
      if (e instanceof KeyStoreOwnershipError) continue;
      throw e;
    }
    if (!got) continue;
    out.push({ validator: v, version: got.version, fingerprint: fingerprint(got.material.publicId) });
    for (const f of got.material.files.values()) f.wipe();
  }
  return out;
}
