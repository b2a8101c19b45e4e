// The Firestore state store against the shared contract, on Google's
// Firestore emulator (started once for this file). Over gRPC, the transport
// it runs on; over REST (the client's preferRest) the run is kept but skipped:
// see firestoreClient in src/stores/firestore/state-store.ts.

import { afterAll } from 'vitest';
import { describeStateStoreContract } from '../../src/stores/state-store.contract';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { firestoreBackend, requireTool } from './backends';

let emulator: FirestoreEmulator | undefined;
afterAll(async () => emulator?.stop());

const noEmulator = requireTool(firestoreEmulatorAvailable(), 'the Firestore emulator (gcloud, java)');
const restFails = 'over REST (preferRest) the client reports ALREADY_EXISTS as 409 and concurrent transactions time out; 6 of 17 fail with @google-cloud/firestore 8.7.1';
for (const [transport, preferRest, skip] of [
  ['gRPC', false, noEmulator],
  ['REST', true, noEmulator ?? restFails],
] as const) {
  describeStateStoreContract(
    `firestore (emulator, ${transport})`,
    async () => {
      emulator ??= await startFirestoreEmulator();
      return firestoreBackend(emulator.host, { preferRest });
    },
    skip ? { skip } : {},
  );
}
