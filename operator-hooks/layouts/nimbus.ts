// Nimbus: `<validators-dir>/<0xpubkey>/keystore.json` and the password as
// `<secrets-dir>/<0xpubkey>` (the layout `nimbus_beacon_node deposits import`
// produces; https://nimbus.guide/keys.html, https://nimbus.guide/data-dir.html;
// beacon_chain/validators/keystore_management.nim, KeystoreFileName).
// Start: `nimbus_validator_client --data-dir=/data --validators-dir=<root>/validators
// --secrets-dir=<root>/secrets --beacon-node=...`.
// Slashing (https://nimbus.guide/migration.html): `nimbus_beacon_node
// slashingdb import <file> --data-dir=/data` before the start and
// `nimbus_beacon_node slashingdb export <file> --data-dir=/data` after it.
// Per-key fee recipient, gas limit and graffiti: through its Keymanager API
// (the keeper's Keymanager mode), not files.

import { copiedKeys, type Layout } from './types';

export const nimbus: Layout = {
  owned: ['validators', 'secrets'],
  files: (_root, keys) => copiedKeys(keys, (k) => ({ keystore: `validators/${k.pubkey}/keystore.json`, password: `secrets/${k.pubkey}` }), null),
};
