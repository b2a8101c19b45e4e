// Teku: `--validator-keys=<keys>:<passwords>`; for a directory, each
// `<keys>/<name>.json` keystore is unlocked by `<passwords>/<name>.txt`
// (https://docs.teku.consensys.io/reference/cli#validator-keys). Per-key fee
// recipient and gas limit: `--validators-proposer-config=<root>/teku/proposer-config.json`
// (proposer_config per 0x key; Teku wants a default_config too, which the
// start script's `--validators-proposer-default-fee-recipient` provides).
// Start: `teku validator-client --data-path=/data
// --validator-keys=<root>/teku/keys:<root>/teku/passwords --beacon-node-api-endpoints=a,b`.
// Slashing (https://docs.teku.consensys.io/reference/cli/subcommands/slashing-protection):
// `teku slashing-protection import --data-path=/data --from=<file>` before,
// `teku slashing-protection export --data-path=/data --to=<file>` after.

import { copiedKeys, type Layout } from './types';

export const teku: Layout = {
  owned: ['teku'],
  files: (_root, keys) =>
    copiedKeys(keys, (k) => ({ keystore: `teku/keys/${k.pubkey}.json`, password: `teku/passwords/${k.pubkey}.txt` }), { path: 'teku/proposer-config.json', graffiti: false }),
};
