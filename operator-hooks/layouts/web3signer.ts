// Web3Signer: one key configuration file per key in `--key-store-path`,
// `type: file-keystore`, `keyType: BLS`, `keystoreFile`,
// `keystorePasswordFile` (https://docs.web3signer.consensys.io/reference/key-config-file-params),
// pointing at what fetch wrote. Start: `web3signer --key-store-path=<root>/web3signer
// eth2 --slashing-protection-db-url=jdbc:postgresql://...`.
// Slashing (https://docs.web3signer.consensys.io/reference/cli/subcommands):
// `web3signer eth2 --slashing-protection-db-url=... import --from=<file>`
// before, `web3signer eth2 --slashing-protection-db-url=... export --to=<file>`
// after. Fee recipient, gas limit and graffiti belong to the validator client
// in front of it, not to the signer.

import { join } from 'node:path';
import { byPubkey, yamlText, type Layout } from './types';

export const web3signer: Layout = {
  owned: ['web3signer'],
  files: (_root, keys) =>
    byPubkey(keys).map((k) => ({
      path: `web3signer/${k.pubkey}.yaml`,
      owner: k.validator,
      content: yamlText({ type: 'file-keystore', keyType: 'BLS', keystoreFile: join(k.dir, 'keystore.json'), keystorePasswordFile: join(k.dir, 'password.txt') }),
    })),
};
