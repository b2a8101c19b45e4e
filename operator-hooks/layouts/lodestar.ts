// Lodestar: its own account layout, `keystores/<0xpubkey>/voting-keystore.json`
// and `secrets/<0xpubkey>` (lib/cmds/validator/paths.js getAccountPaths and
// keymanager/persistedKeys.js getValidatorPaths in @chainsafe/lodestar 1.5.1),
// not `--importKeystores`, whose `--importKeystoresPassword` is one password
// for every keystore. Per-key settings: `proposer-settings.yml` for
// `--proposerSettingsFile` (proposer_config per 0x key: graffiti,
// fee_recipient, builder.gas_limit).
// Start: `lodestar validator --network N --dataDir /data
// --keystoresDir <root>/lodestar/keystores --secretsDir <root>/lodestar/secrets
// [--proposerSettingsFile <root>/lodestar/proposer-settings.yml]`; the
// slashing database stays in /data/validator-db.
// Slashing: `lodestar validator slashing-protection import --network N
// --dataDir /data --file <file>` before, `... export ... --file <file>` after
// (lib/cmds/validator/slashingProtection/{import,export}.js).

import { copiedKeys, type Layout } from './types';

export const lodestar: Layout = {
  owned: ['lodestar'],
  files: (_root, keys) =>
    copiedKeys(keys, (k) => ({ keystore: `lodestar/keystores/${k.pubkey}/voting-keystore.json`, password: `lodestar/secrets/${k.pubkey}` }), { path: 'lodestar/proposer-settings.yml', graffiti: true }),
};
