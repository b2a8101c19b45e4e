// The mount mode's contract with a validator client: which files, at which
// paths, the client reads at boot. A layout is pure (granted keys in, files
// out); key-files.ts does every write and removal.

/** Per-validator proposer settings, from KEYHOLD_VALIDATOR_SETTINGS_FILE. */
export interface ValidatorSettings {
  /** 0x-prefixed 20-byte execution address. */
  readonly feeRecipient?: string;
  readonly gasLimit?: number;
  /** At most 32 bytes of UTF-8 (the graffiti field of a block). */
  readonly graffiti?: string;
  /** Propose blinded blocks through the beacon node's builder (MEV-boost). */
  readonly builderProposals?: boolean;
}

/** One granted key as fetch left it in its own directory (keystore.json, password.txt). */
export interface GrantedKey {
  readonly validator: string;
  /** Absolute directory holding keystore.json and password.txt. */
  readonly dir: string;
  /** 0x-prefixed lower-case hex of the keystore's BLS public key. */
  readonly pubkey: string;
  readonly keystore: string;
  readonly password: string;
  readonly settings?: ValidatorSettings;
}

export interface LayoutFile {
  /** Relative to the layout root (KEYHOLD_KEY_DIR); `/`-separated, no `..`. */
  readonly path: string;
  readonly content: string;
  /** The validator the file belongs to, or null for a file every key shares (a definitions list). */
  readonly owner: string | null;
}

export interface Layout {
  /** Top-level entries of the root this layout owns: fetch wipes them before it writes. */
  readonly owned: readonly string[];
  readonly files: (root: string, keys: readonly GrantedKey[]) => LayoutFile[];
}

/** Keys in a stable order, so a shared file's content depends only on the set of keys. */
export const byPubkey = (keys: readonly GrantedKey[]): GrantedKey[] => [...keys].sort((a, b) => a.pubkey.localeCompare(b.pubkey));

/** JSON text is valid YAML 1.2, so a YAML file can be written without a YAML writer. */
export const yamlText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/**
 * The `proposer_config` file Prysm (`--proposer-settings-file`) and Teku
 * (`--validators-proposer-config`) read: fee_recipient, builder.enabled and
 * builder.gas_limit per 0x public key. Null when no key has settings.
 */
export function proposerConfig(keys: readonly GrantedKey[], opts: { graffiti: boolean }): Record<string, unknown> | null {
  const entry = (s: ValidatorSettings) => ({
    ...(s.feeRecipient !== undefined ? { fee_recipient: s.feeRecipient } : {}),
    ...(opts.graffiti && s.graffiti !== undefined ? { graffiti: s.graffiti } : {}),
    ...(s.gasLimit !== undefined || s.builderProposals !== undefined
      ? { builder: { enabled: s.builderProposals ?? false, ...(s.gasLimit !== undefined ? { gas_limit: String(s.gasLimit) } : {}) } }
      : {}),
  });
  const entries = byPubkey(keys).flatMap((k) => {
    const e = k.settings === undefined ? {} : entry(k.settings);
    return Object.keys(e).length === 0 ? [] : [[k.pubkey, e] as const];
  });
  return entries.length === 0 ? null : { proposer_config: Object.fromEntries(entries) };
}

/**
 * The common shape of a copying layout: each key's keystore and password at
 * the paths the client wants, plus (when any key has settings) one proposer
 * config file all keys share.
 */
export function copiedKeys(
  keys: readonly GrantedKey[],
  paths: (k: GrantedKey) => { keystore: string; password: string },
  proposer: { path: string; graffiti: boolean } | null,
): LayoutFile[] {
  const settings = proposer === null ? null : proposerConfig(keys, { graffiti: proposer.graffiti });
  return [
    ...byPubkey(keys).flatMap((k) => {
      const p = paths(k);
      return [
        { path: p.keystore, owner: k.validator, content: k.keystore },
        { path: p.password, owner: k.validator, content: k.password },
      ];
    }),
    ...(settings === null || proposer === null ? [] : [{ path: proposer.path, owner: null, content: yamlText(settings) }]),
  ];
}
