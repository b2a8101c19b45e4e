// Google's Firestore emulator (from the Google Cloud CLI, needs Java), started
// lazily once per test file by the suites that need it and stopped with the
// file. It prints to its own pipes, never to ours. Tests isolate themselves
// with a fresh project id each (the emulator keeps projects apart), so no
// data needs clearing between them.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './support/ports';
import { sharedProcess, type Launched } from './support/shared-process';

export interface FirestoreEmulator {
  /** "127.0.0.1:PORT", for the client's `host` setting. */
  readonly host: string;
  /** Delete every document of a project (the emulator's own endpoint). */
  clear(projectId: string): Promise<void>;
  stop(): Promise<void>;
}

const onPath = (tool: string): boolean =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return dir !== '';
    } catch {
      return false;
    }
  });

export const firestoreEmulatorAvailable = (): boolean => onPath('gcloud') && onPath('java');



async function launch(): Promise<Launched<string>> {
  if (!firestoreEmulatorAvailable()) throw new Error('the Firestore emulator needs gcloud and java on PATH (they come with the machine image, see /work/shared/WIRE.md)');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // Its own process group: gcloud starts a shell that starts java, and all of them must stop with us.
  const child = spawn('gcloud', ['emulators', 'firestore', 'start', `--host-port=${host}`, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-3000);
  });
  // gcloud starts Java under it: signal the whole process group.
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const kill = () => signal('SIGKILL');
  process.once('exit', kill);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const up = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { value: host, child, signal };
    await new Promise((r) => setTimeout(r, 250));
  }
  kill();
  throw new Error(`the Firestore emulator did not start on ${host}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

const acquire = sharedProcess(launch);

export async function startFirestoreEmulator(): Promise<FirestoreEmulator> {
  const held = await acquire();
  const host = held.value;
  return {
    host,
    async clear(projectId) {
      await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
    },
    stop: held.release,
  };
}
