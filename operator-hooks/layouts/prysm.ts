// Prysm reads keys only from its wallet, so keyhold writes an import source
// and the start script imports it into a wallet on the memory volume:
// `<root>/prysm/<0xpubkey>/keystore-<0xpubkey>.json` with its own
// `password.txt` (one directory per key, because `validator accounts import
// --keys-dir` takes one `--account-password-file` for every keystore in it),
// then, per directory, `validator accounts import --accept-terms-of-use
// --keys-dir=<dir> --wallet-dir=<root>/prysm-wallet
// --wallet-password-file=<generated> --account-password-file=<dir>/password.txt`
// (https://prysm.offchainlabs.com/docs/validators/import-keys/). Per-key fee
// recipient and gas limit: `--proposer-settings-file=<root>/prysm/proposer-settings.json`.
// Start: `validator --datadir=/data --wallet-dir=<root>/prysm-wallet
// --wallet-password-file=<generated> --beacon-rpc-provider=...`.
// Slashing (https://prysm.offchainlabs.com/docs/backup-and-migration/slashing-protection):
// `validator slashing-protection-history import --datadir=/data
// --slashing-protection-json-file=<file>` before, `validator
// slashing-protection-history export --datadir=/data
// --slashing-protection-export-dir=<dir>` after (it writes slashing_protection.json).

import { copiedKeys, type Layout } from './types';

export const prysm: Layout = {
  owned: ['prysm'],
  files: (_root, keys) =>
    copiedKeys(keys, (k) => ({ keystore: `prysm/${k.pubkey}/keystore-${k.pubkey}.json`, password: `prysm/${k.pubkey}/password.txt` }), { path: 'prysm/proposer-settings.json', graffiti: true }),
};
