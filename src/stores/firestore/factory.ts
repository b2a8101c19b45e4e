// KEYHOLD_STATE_STORE=firestore: settings from the environment → client →
// store behind the resilience wrapper.

import { ConfigError } from '../../config';
import type { StateStore } from '../../ports';
import type { StoreContext } from '../registry';
import { defaultResilience, resilientStateStore } from '../resilience';
import { FirestoreStateStore, firestoreClient } from './state-store';

// GCP project ids: 6-30 of [a-z0-9-], starting with a letter.
const projectPattern = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
// Database ids: "(default)" or 4-63 of [a-z0-9-].
const databasePattern = /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/;
const prefixPattern = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export async function createFirestoreStateStore(ctx: StoreContext): Promise<StateStore> {
  const project = ctx.env.KEYHOLD_FIRESTORE_PROJECT || ctx.env.KEYHOLD_GCP_PROJECT || '';
  if (!projectPattern.test(project)) throw new ConfigError(`KEYHOLD_FIRESTORE_PROJECT (or KEYHOLD_GCP_PROJECT) must be a GCP project id, got "${project}"`);
  const database = ctx.env.KEYHOLD_FIRESTORE_DATABASE || '(default)';
  if (!databasePattern.test(database)) throw new ConfigError(`KEYHOLD_FIRESTORE_DATABASE must be a Firestore database id or (default), got "${database}"`);
  const prefix = ctx.env.KEYHOLD_FIRESTORE_COLLECTION_PREFIX || 'keyhold';
  if (!prefixPattern.test(prefix)) throw new ConfigError(`KEYHOLD_FIRESTORE_COLLECTION_PREFIX must be letters, digits, _ or -, got "${prefix}"`);
  // The client's own convention for its emulator; never set in production.
  const emulatorHost = ctx.env.FIRESTORE_EMULATOR_HOST || undefined;
  const db = firestoreClient({ projectId: project, databaseId: database, ...(emulatorHost ? { emulatorHost } : {}) });
  return resilientStateStore(new FirestoreStateStore({ db, collectionPrefix: prefix }), defaultResilience, ctx.storeHooks);
}
