// What the pod is told about its predecessor, in the one form a client's
// start script can act on. Doppelganger detection is chosen when a client
// starts (Lodestar 1.5.1 `--doppelgangerProtectionEnabled`, Lighthouse
// `--enable-doppelganger-protection`); the Keymanager API has no per-key
// switch, and Lodestar applies the start-time choice to every key imported
// later. So fetch writes one answer for the whole pod, before the client
// starts, and a missing or unreadable file means "run detection".

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Predecessor } from './broker-client';
import { fileNames, writeFileAtomic } from './key-files';

/** Stops the broker proved: the predecessor exited and handed back its history. */
const proven: ReadonlySet<Predecessor | undefined> = new Set(['released', 'acknowledged']);

/**
 * Whether the client must run doppelganger detection. Skipped only when every
 * validator of the pod was granted after a proven stop: `none` (keyhold saw
 * no holder, but the key may run outside it), `unproven` and a validator not
 * granted yet (its predecessor is still unknown) all keep it.
 */
export function needsDoppelganger(validators: readonly string[], granted: readonly { validator: string; predecessor?: Predecessor }[]): boolean {
  const byValidator = new Map(granted.map((g) => [g.validator, g.predecessor]));
  return validators.length === 0 || validators.some((v) => !byValidator.has(v) || !proven.has(byValidator.get(v)));
}

/** `KEYHOLD_KEY_DIR/doppelganger-protection`: `true` or `false`, for the start script. */
export function writeDoppelgangerAdvice(keyDir: string, needed: boolean): Promise<void> {
  return writeFileAtomic(keyDir, fileNames.doppelganger, `${needed}\n`);
}

/** What the file says; anything but a clear `false` is `true`. */
export async function readDoppelgangerAdvice(keyDir: string): Promise<boolean> {
  const text = await readFile(join(keyDir, fileNames.doppelganger), 'utf8').catch(() => 'true');
  return text.trim() !== 'false';
}
