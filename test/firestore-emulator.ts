// Google's Firestore emulator (from the Google Cloud CLI, needs Java), started
// lazily once per test file by the suites that need it and stopped with the
// file. It prints to its own pipes, never to ours. Tests isolate themselves
// with a fresh project id each (the emulator keeps projects apart), so no
// data needs clearing between them.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './support/ports';

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


let running: Promise<{ host: string; child: ChildProcess; users: number }> | undefined;

async function launch(): Promise<{ host: string; child: ChildProcess; users: number }> {
  if (!firestoreEmulatorAvailable()) throw new Error('the Firestore emulator needs gcloud and java on PATH (they come with the machine image, see /work/shared/WIRE.md)');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // Its own process group: gcloud starts a shell that starts java, and all of them must stop with us.
  const child = spawn('gcloud', ['emulators', 'firestore', 'start', `--host-port=${host}`, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-3000);
  });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', kill);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const up = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { host, child, users: 0 };
    await new Promise((r) => setTimeout(r, 250));
  }
  kill();
  throw new Error(`the Firestore emulator did not start on ${host}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

export async function startFirestoreEmulator(): Promise<FirestoreEmulator> {
  running ??= launch().catch((e: unknown) => {
    running = undefined;
    throw e;
  });
  const r = await running;
  r.users += 1;
  let stopped = false;
  return {
    host: r.host,
    async clear(projectId) {
      await fetch(`http://${r.host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      r.users -= 1;
      if (r.users > 0) return;
      running = undefined;
      if (r.child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => r.child.once('exit', () => resolve()));
      try {
        process.kill(-r.child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-r.child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
