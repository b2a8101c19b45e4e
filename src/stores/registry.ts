// Store name → factory, explicit (no registration by import side effect).
// Each factory parses its own settings from the environment at start and
// imports its SDK lazily, so a broker loads only the clients it is configured for.

import type { Env } from '../config';
import type { Timing } from '../core/horizon';
import type { Logger } from '../log';
import type { CheckpointWitness, Clock, KeyStore, StateStore } from '../ports';
import type { WitnessLocation } from '../witness/location';
import type { ResilienceHooks } from './resilience';

export interface StoreContext {
  readonly env: Env;
  readonly home: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Factories pass these to resilientKeyStore/resilientStateStore, so metrics see every call. */
  readonly storeHooks?: ResilienceHooks;
  /** The deployment's timing (compose always sets it): the Vault state store counts waits from landing times with it. */
  readonly timing?: Timing;
}

export type KeyStoreFactory = (ctx: StoreContext) => Promise<KeyStore>;
export type StateStoreFactory = (ctx: StoreContext) => Promise<StateStore>;

export const keyStoreFactories: Record<string, KeyStoreFactory> = {
  sqlite: async (ctx) => (await import('./sqlite/factory')).createSqliteKeyStore(ctx),
  'aws-secrets-manager': async (ctx) => (await import('./aws-secrets-manager/factory')).createAwsSecretsManagerKeyStore(ctx),
  'gcp-secret-manager': async (ctx) => (await import('./gcp-secret-manager/factory')).createGcpSecretManagerKeyStore(ctx),
  vault: async (ctx) => (await import('./vault-kv/factory')).createVaultKvKeyStore(ctx),
};

export const stateStoreFactories: Record<string, StateStoreFactory> = {
  sqlite: async (ctx) => (await import('./sqlite/factory')).createSqliteStateStore(ctx),
  dynamodb: async (ctx) => (await import('./dynamodb/factory')).createDynamoDbStateStore(ctx),
  firestore: async (ctx) => (await import('./firestore/factory')).createFirestoreStateStore(ctx),
  vault: async (ctx) => (await import('./vault-kv-state/factory')).createVaultStateStore(ctx),
};

/** Write-once checkpoint witnesses by URL scheme (src/witness/location.ts), loaded like the stores. */
export const witnessFactories: Record<WitnessLocation['scheme'], (loc: WitnessLocation, env: Env, retentionDays: number) => Promise<CheckpointWitness>> = {
  s3: async (loc, env, days) => (await import('./s3-witness/witness')).openS3Witness(loc, env, days),
  gs: async (loc, env) => (await import('./gcs-witness/witness')).openGcsWitness(loc, env),
};
