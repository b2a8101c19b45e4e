// The worker thread that runs EIP-2335 checks, one message at a time, so the
// KDF never blocks the broker's event loop. Inputs are wiped once checked.

import { parentPort } from 'node:worker_threads';
import { checkEip2335, type Eip2335Check } from './eip2335';

export interface CheckRequest {
  readonly id: number;
  readonly keystore: Uint8Array;
  readonly password: Uint8Array;
}

export interface CheckReply {
  readonly id: number;
  readonly result: Eip2335Check;
}

parentPort?.on('message', (m: CheckRequest) => {
  void checkEip2335(m.keystore, m.password)
    .catch((): Eip2335Check => ({ ok: false, code: 'key_material_invalid' }))
    .then((result) => {
      m.keystore.fill(0);
      m.password.fill(0);
      parentPort!.postMessage({ id: m.id, result } satisfies CheckReply);
    });
});
