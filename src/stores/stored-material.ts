// Key material as a store returned it: parsed, then the bytes wiped. A value
// that does not parse is the store's fault, reported without its content.

import { KeyMaterialFormatError, parseKeyMaterial, type KeyMaterial } from '../core/key-material';
import { StoreError } from '../ports';

export function openStoredMaterial(store: string, validator: string, bytes: Uint8Array): KeyMaterial {
  try {
    return parseKeyMaterial(bytes);
  } catch (e) {
    if (e instanceof KeyMaterialFormatError) throw new StoreError(store, `the secret for ${validator}: ${e.message}`);
    throw e;
  } finally {
    bytes.fill(0);
  }
}
