// One emulator process per test file, shared by its suites: the first user
// starts it, the last one to release it stops it, and a failed start is not
// kept (the next user tries again). vitest isolates test files, so the state
// below is per file.

import type { ChildProcess } from 'node:child_process';

export interface Launched<T> {
  readonly value: T;
  readonly child: ChildProcess;
  /** Deliver a signal to the process (or its whole group). */
  signal(sig: NodeJS.Signals): void;
}

export interface Held<T> {
  readonly value: T;
  /** Release this user's hold; the process stops when the last user releases. */
  release(): Promise<void>;
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves when it has exited. */
export async function terminate(p: Pick<Launched<unknown>, 'child' | 'signal'>, graceMs = 3000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.signal('SIGTERM');
  const timer = setTimeout(() => p.signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function sharedProcess<T>(launch: () => Promise<Launched<T>>): () => Promise<Held<T>> {
  let running: Promise<Launched<T> & { users: number }> | undefined;
  return async () => {
    running ??= launch().then(
      (l) => ({ ...l, users: 0 }),
      (e: unknown) => {
        running = undefined;
        throw e;
      },
    );
    const r = await running;
    r.users += 1;
    let released = false;
    return {
      value: r.value,
      async release() {
        if (released) return;
        released = true;
        r.users -= 1;
        if (r.users > 0) return;
        running = undefined;
        await terminate(r);
      },
    };
  };
}
