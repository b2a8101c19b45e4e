// Each client's mount layout, asserted as that client reads it: the exact
// paths, the YAML/JSON parsed back, the password where the client looks.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { layouts } from '.';
import { parseValidatorSettings } from './settings';
import type { GrantedKey, LayoutFile } from './types';

const root = '/keyhold/keys';
/** A stand-in EIP-2335 keystore: layouts never decrypt, so no key material is needed, only a (random) pubkey. */
function key(validator: string, settings?: GrantedKey['settings']): GrantedKey {
  const hex = randomBytes(48).toString('hex');
  return { validator, dir: join(root, validator), pubkey: `0x${hex}`, keystore: JSON.stringify({ version: 4, pubkey: hex, crypto: {} }), password: `pw-${validator}`, ...(settings ? { settings } : {}) };
}
const at = (files: LayoutFile[], path: string): LayoutFile => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} in ${files.map((x) => x.path).join(', ')}`);
  return f;
};
const a = key('v1', { feeRecipient: '0x00000000000000000000000000000000000000aa', gasLimit: 36_000_000, graffiti: 'keyhold-v1', builderProposals: true });
const b = key('v2');

describe('mount layouts per client', () => {
  it('lighthouse: one validator_definitions.yml listing every key, pointing at the files fetch wrote, with per-key settings', () => {
    const files = layouts.lighthouse.files(root, [a, b]);
    expect(files.map((f) => f.path)).toEqual(['validator_definitions.yml']);
    const defs = parse(at(files, 'validator_definitions.yml').content) as Record<string, unknown>[];
    const byKey = new Map(defs.map((d) => [d.voting_public_key, d]));
    expect(byKey.get(a.pubkey)).toEqual({
      enabled: true,
      voting_public_key: a.pubkey,
      description: 'delivered by keyhold for v1',
      graffiti: 'keyhold-v1',
      suggested_fee_recipient: '0x00000000000000000000000000000000000000aa',
      gas_limit: 36_000_000,
      builder_proposals: true,
      type: 'local_keystore',
      voting_keystore_path: '/keyhold/keys/v1/keystore.json',
      voting_keystore_password_path: '/keyhold/keys/v1/password.txt',
    });
    // No settings, no fields: lighthouse then uses its command-line defaults.
    expect(Object.keys(byKey.get(b.pubkey)!).sort()).toEqual(['description', 'enabled', 'type', 'voting_keystore_password_path', 'voting_keystore_path', 'voting_public_key']);
    expect(layouts.lighthouse.files(root, [])).toEqual([]);
  });

  it('nimbus: validators/<0xpubkey>/keystore.json and the bare password in secrets/<0xpubkey>', () => {
    const files = layouts.nimbus.files(root, [a]);
    expect(files.map((f) => f.path).sort()).toEqual([`secrets/${a.pubkey}`, `validators/${a.pubkey}/keystore.json`]);
    expect(at(files, `validators/${a.pubkey}/keystore.json`).content).toBe(a.keystore);
    expect(at(files, `secrets/${a.pubkey}`).content).toBe('pw-v1');
    expect(files.every((f) => f.owner === 'v1')).toBe(true);
  });

  it('lodestar: keystores/<0xpubkey>/voting-keystore.json, secrets/<0xpubkey>, and proposer settings with graffiti', () => {
    const files = layouts.lodestar.files(root, [a, b]);
    expect(at(files, `lodestar/keystores/${b.pubkey}/voting-keystore.json`).content).toBe(b.keystore);
    expect(at(files, `lodestar/secrets/${b.pubkey}`).content).toBe('pw-v2');
    const ps = parse(at(files, 'lodestar/proposer-settings.yml').content) as { proposer_config: Record<string, unknown> };
    expect(ps.proposer_config).toEqual({
      [a.pubkey]: { fee_recipient: '0x00000000000000000000000000000000000000aa', graffiti: 'keyhold-v1', builder: { enabled: true, gas_limit: '36000000' } },
    });
    expect(layouts.lodestar.files(root, [b]).map((f) => f.path)).not.toContain('lodestar/proposer-settings.yml');
  });

  it('teku: keys/<name>.json matched by passwords/<name>.txt (--validator-keys keys:passwords), proposer config without graffiti', () => {
    const files = layouts.teku.files(root, [a]);
    expect(at(files, `teku/keys/${a.pubkey}.json`).content).toBe(a.keystore);
    expect(at(files, `teku/passwords/${a.pubkey}.txt`).content).toBe('pw-v1');
    const pc = JSON.parse(at(files, 'teku/proposer-config.json').content) as { proposer_config: Record<string, Record<string, unknown>> };
    expect(pc.proposer_config[a.pubkey]).toEqual({ fee_recipient: '0x00000000000000000000000000000000000000aa', builder: { enabled: true, gas_limit: '36000000' } });
  });

  it('prysm: one import directory per key (its own account password), keystore name containing "keystore"', () => {
    const files = layouts.prysm.files(root, [a, b]);
    for (const k of [a, b]) {
      expect(at(files, `prysm/${k.pubkey}/keystore-${k.pubkey}.json`).content).toBe(k.keystore);
      expect(at(files, `prysm/${k.pubkey}/password.txt`).content).toBe(k.password);
    }
    expect(JSON.parse(at(files, 'prysm/proposer-settings.json').content)).toHaveProperty(['proposer_config', a.pubkey, 'fee_recipient']);
  });

  it('web3signer: one key configuration file per key, type file-keystore, BLS, pointing at the files fetch wrote', () => {
    const files = layouts.web3signer.files(root, [a]);
    expect(files.map((f) => f.path)).toEqual([`web3signer/${a.pubkey}.yaml`]);
    expect(parse(files[0]!.content)).toEqual({ type: 'file-keystore', keyType: 'BLS', keystoreFile: '/keyhold/keys/v1/keystore.json', keystorePasswordFile: '/keyhold/keys/v1/password.txt' });
  });

  it.each(Object.entries(layouts))('%s: the same keys in another order give the same files; every path stays inside its owned entries', (_name, layout) => {
    expect(layout.files(root, [b, a])).toEqual(layout.files(root, [a, b]));
    for (const f of layout.files(root, [a, b])) {
      expect(layout.owned).toContain(f.path.split('/')[0]);
      expect(f.path.split('/')).not.toContain('..');
    }
  });
});

describe('KEYHOLD_VALIDATOR_SETTINGS_FILE', () => {
  it('applies a validator\'s own entry over the default, field by field', () => {
    const of = parseValidatorSettings(JSON.stringify({ default: { fee_recipient: '0x00000000000000000000000000000000000000BB', gas_limit: 30_000_000 }, validators: { v1: { graffiti: 'g', gas_limit: 36_000_000 } } }));
    expect(of('v1')).toEqual({ feeRecipient: '0x00000000000000000000000000000000000000bb', gasLimit: 36_000_000, graffiti: 'g' });
    expect(of('other')).toEqual({ feeRecipient: '0x00000000000000000000000000000000000000bb', gasLimit: 30_000_000 });
    expect(parseValidatorSettings('{}')('v1')).toBeUndefined();
  });

  it.each([
    ['not JSON', 'fee_recipient: 0x', /not JSON/],
    ['a short address', JSON.stringify({ validators: { v1: { fee_recipient: '0x12' } } }), /validators\.v1\.fee_recipient/],
    ['graffiti over 32 bytes', JSON.stringify({ validators: { v1: { graffiti: 'é'.repeat(17) } } }), /graffiti/],
    ['a fractional gas limit', JSON.stringify({ validators: { v1: { gas_limit: 1.5 } } }), /gas_limit/],
    ['an unknown field (a typo)', JSON.stringify({ validators: { v1: { fee_recipent: '0x' } } }), /v1/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseValidatorSettings(text)).toThrow(message);
  });
});
