// Validator id ↔ Secret Manager secret id. Secret ids allow only
// [a-zA-Z0-9_-] (CreateSecretRequest.secret_id), validator ids
// ^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$ (src/core/names.ts). Validator ids
// never contain '_', so '.' → '_' is injective and '_' → '.' inverts it.

import { isValidatorId } from '../../core/names';

export function secretIdOf(prefix: string, validator: string): string {
  if (!isValidatorId(validator)) throw new TypeError('not a validator id');
  return `${prefix}${validator.replaceAll('.', '_')}`;
}

/** The validator a secret id names, or null when it names none under this prefix. */
export function validatorOf(prefix: string, secretId: string): string | null {
  if (!secretId.startsWith(prefix)) return null;
  const v = secretId.slice(prefix.length).replaceAll('_', '.');
  return isValidatorId(v) ? v : null;
}
