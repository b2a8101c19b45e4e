// The Vault KV v2 state store against the shared contract, on the project's
// Vault emulator (KV v2 with check-and-set, as Vault answers it).

import { afterAll } from 'vitest';
import { describeStateStoreContract } from '../../src/stores/state-store.contract';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/server';
import { vaultBackend } from './backends';

let vault: VaultEmulator | undefined;
afterAll(async () => vault?.close());

describeStateStoreContract('vault kv v2 (emulator)', async () => {
  vault ??= await startVaultEmulator();
  return vaultBackend(vault);
});
