// The Firestore state store against the shared contract, on Google's
// Firestore emulator (started once for this file).

import { afterAll } from 'vitest';
import { describeStateStoreContract } from '../../src/stores/state-store.contract';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { firestoreBackend, requireTool } from './backends';

let emulator: FirestoreEmulator | undefined;
afterAll(async () => emulator?.stop());

const skip = requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator (gcloud, java)');
describeStateStoreContract(
  'firestore (emulator)',
  async () => {
    emulator ??= await startFirestoreEmulator();
    return firestoreBackend(emulator.host);
  },
  skip ? { skip } : {},
);
