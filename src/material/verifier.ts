// What an import learns from its material before anything is stored: the
// key's identity (keyIdentity), after checking that the material is what it
// claims to be. EIP-2335 keystores are decrypted and their public key derived
// in a worker thread; this module itself loads no crypto library, so the
// grant path never pays for it.
//
// Other formats are opaque to the broker (format tag, public id, files): their
// identity is their declared public id, normalised. The broker cannot check
// such material, so an operator importing one vouches for its public id.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KeyholdError } from '../core/errors';
import { keyIdentity, type KeyMaterial } from '../core/key-material';
import type { Eip2335Check } from './eip2335';
import type { CheckReply, CheckRequest } from './check-worker';

export interface MaterialVerifier {
  /** The key's identity; throws KeyholdError `key_material_invalid` or `key_password_wrong`. */
  identify(material: KeyMaterial): Promise<string>;
}

/** What a key identity may be: it names a document or a path in every state store. */
const identityPattern = /^[a-z0-9][a-z0-9:._-]{0,255}$/;

export class WorkerMaterialVerifier implements MaterialVerifier {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Eip2335Check) => void; reject: (e: unknown) => void }>();

  async identify(material: KeyMaterial): Promise<string> {
    const declared = keyIdentity(material.publicId);
    if (!identityPattern.test(declared)) throw new KeyholdError('key_material_invalid');
    if (material.format !== 'eip2335') return declared;
    const keystore = material.files.get('keystore.json');
    const password = material.files.get('password.txt');
    if (!keystore || !password) throw new KeyholdError('key_material_invalid');
    // Copies go to the worker, which wipes them; the caller wipes its own.
    const result = await this.check(Uint8Array.from(keystore.reveal()), Uint8Array.from(password.reveal()));
    if (!result.ok) throw new KeyholdError(result.code);
    // The public id the record and the ledger show must be the key that was proven.
    if (result.pubkey !== declared) throw new KeyholdError('key_material_invalid');
    return result.pubkey;
  }

  private check(keystore: Uint8Array, password: Uint8Array): Promise<Eip2335Check> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Eip2335Check>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held only while a check is running: an idle broker or test can exit.
      worker.ref();
      worker.postMessage({ id, keystore, password } satisfies CheckRequest, [keystore.buffer as ArrayBuffer, password.buffer as ArrayBuffer]);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerFile());
    w.unref();
    w.on('message', (m: CheckReply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      p?.resolve(m.result);
    });
    const fail = (e: unknown) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(new KeyholdError('internal', { cause: e }));
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`material check worker exited with ${code}`)));
    this.worker = w;
    return w;
  }

  /** For tests and shutdown: stop the worker (the next check starts another). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }
}

/**
 * From source, the tsx shim beside this file. In a bundle this module may sit
 * in the entry file or in chunks/, and the build puts check-worker.mjs beside
 * the entry (functions/build.ts).
 */
function workerFile(): URL {
  const candidates = [new URL('./check-worker.mjs', import.meta.url), new URL('../check-worker.mjs', import.meta.url)];
  return candidates.find((u) => existsSync(fileURLToPath(u))) ?? candidates[0]!;
}

/** One per process: imports are rare, and a worker costs a few megabytes. */
export const sharedMaterialVerifier = new WorkerMaterialVerifier();
