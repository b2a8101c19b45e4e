// KEYHOLD_VALIDATOR_SETTINGS_FILE: per-validator proposer settings, keyed by
// keyhold validator id (a ConfigMap-mounted JSON file), applied to each
// granted key where its client reads them (the layouts, or the Keymanager
// API in the keeper's Keymanager mode). Pure: text in, settings out.
//
//   { "validators": { "v1": { "fee_recipient": "0x…", "gas_limit": 36000000,
//                             "graffiti": "keyhold", "builder_proposals": true } },
//     "default": { … the same fields, for validators not listed … } }

import { z } from 'zod';
import type { ValidatorSettings } from './types';

const entry = z
  .object({
    fee_recipient: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed 20-byte address').optional(),
    gas_limit: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    graffiti: z.string().refine((g) => Buffer.byteLength(g, 'utf8') <= 32, 'at most 32 bytes of UTF-8').optional(),
    builder_proposals: z.boolean().optional(),
  })
  .strict();

const file = z.object({ validators: z.record(z.string(), entry).default({}), default: entry.optional() }).strict();

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

const toSettings = (e: z.infer<typeof entry>): ValidatorSettings => ({
  ...(e.fee_recipient !== undefined ? { feeRecipient: e.fee_recipient.toLowerCase() } : {}),
  ...(e.gas_limit !== undefined ? { gasLimit: e.gas_limit } : {}),
  ...(e.graffiti !== undefined ? { graffiti: e.graffiti } : {}),
  ...(e.builder_proposals !== undefined ? { builderProposals: e.builder_proposals } : {}),
});

/** Settings of validator `v`: its own entry over the default, field by field. */
export type SettingsOf = (validator: string) => ValidatorSettings | undefined;

export function parseValidatorSettings(text: string): SettingsOf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SettingsError('not JSON');
  }
  const r = file.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SettingsError(`${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  const dflt = r.data.default === undefined ? {} : toSettings(r.data.default);
  const own = new Map(Object.entries(r.data.validators).map(([v, e]) => [v, toSettings(e)]));
  return (v) => {
    const s = { ...dflt, ...own.get(v) };
    return Object.keys(s).length === 0 ? undefined : s;
  };
}
