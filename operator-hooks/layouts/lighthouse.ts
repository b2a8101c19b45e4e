// Lighthouse: `validator_definitions.yml` in the validators dir, one entry
// per key, pointing at the keystore and password fetch wrote (no copies).
// Fields and their YAML names: common/account_utils/src/validator_definitions.rs
// (struct ValidatorDefinition; SigningDefinition::LocalKeystore is
// `type: local_keystore` with voting_keystore_path and
// voting_keystore_password_path). Per-key graffiti, suggested_fee_recipient
// and gas_limit are fields of the same entry.
// Start: `lighthouse --network N --datadir /data vc --validators-dir <root>
// --secrets-dir <root> ...` (infra/k8s/base/validator-statefulset.yaml).
// Slashing: `lighthouse --network N --datadir /data account validator
// slashing-protection import <file>` before the start, `... export <file>`
// after the client exited (account_manager/src/validator/slashing_protection.rs).

import { join } from 'node:path';
import { byPubkey, yamlText, type GrantedKey, type Layout } from './types';

export const definitionsFile = 'validator_definitions.yml';

export function lighthouseEntry(k: GrantedKey): Record<string, unknown> {
  const s = k.settings ?? {};
  return {
    enabled: true,
    voting_public_key: k.pubkey,
    description: `delivered by keyhold for ${k.validator}`,
    ...(s.graffiti !== undefined ? { graffiti: s.graffiti } : {}),
    ...(s.feeRecipient !== undefined ? { suggested_fee_recipient: s.feeRecipient } : {}),
    ...(s.gasLimit !== undefined ? { gas_limit: s.gasLimit } : {}),
    ...(s.builderProposals !== undefined ? { builder_proposals: s.builderProposals } : {}),
    type: 'local_keystore',
    voting_keystore_path: join(k.dir, 'keystore.json'),
    voting_keystore_password_path: join(k.dir, 'password.txt'),
  };
}

export const lighthouse: Layout = {
  owned: [definitionsFile],
  files: (_root, keys) => (keys.length === 0 ? [] : [{ path: definitionsFile, owner: null, content: yamlText(byPubkey(keys).map(lighthouseEntry)) }]),
};
