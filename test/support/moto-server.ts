// moto_server (a third-party AWS emulator that comes with the machine image,
// see WIRE.md) on an ephemeral port, shared by every suite of one test file:
// vitest isolates test files, so the module-level singleton below is per file.
//
// Free of vitest, so the chaos harness's CLI starts it too.
//
//   const moto = await startMoto();   // in beforeAll; starts or reuses
//   new SecretsManagerClient({ endpoint: moto.endpoint, ... })
//   await moto.stop();                // in afterAll; the last stop kills it
//
// When moto_server is not on PATH, `describeWithMoto` skips its suite with a
// name that says why, except in CI (CI set), where it fails loudly instead:
// a green run that silently tested nothing would be worse than a red one.

import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './ports';
import { sharedProcess, terminate, type Launched } from './shared-process';

export interface Moto {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  /** moto_server's process id (to watch its memory). */
  readonly pid: number | undefined;
  /** Release this user's hold; the process stops when the last user stops. */
  stop(): Promise<void>;
}

/** Static credentials moto accepts; never real ones. */
export const motoCredentials = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
export const motoRegion = 'us-east-1';

function motoServerPath(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'moto_server'), constants.X_OK);
      return join(dir, 'moto_server');
    } catch {
      // not in this directory
    }
  }
  return null;
}

export const motoAvailable = (): boolean => motoServerPath() !== null;

/** The Python that runs moto_server (its script's #! line), for a script that imports moto itself. */
function motoPython(): string {
  const path = motoServerPath();
  if (!path) throw new Error(missingMessage);
  const first = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
  return first.startsWith('#!') && /python[\d.]*$/.test(first) ? first.slice(2).trim() : 'python3';
}

export const missingMessage = 'moto_server is not on PATH (it comes with the machine image: moto 5.2.1, see /work/shared/WIRE.md)';

/** `script`: a Python file to run instead of moto_server, with the same arguments (it imports moto). */
async function launch(script?: string): Promise<Launched<{ endpoint: string; pid: number | undefined }>> {
  if (!motoAvailable()) throw new Error(missingMessage);
  const [command, pre] = script === undefined ? ['moto_server', []] : [motoPython(), [script]];
  // The port is free when picked and moto binds it a moment later; another
  // process taking it in between is possible, so a failed start tries again.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(command, [...pre, '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-2000);
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const exited = new Promise<'exited'>((resolve) => child.once('exit', () => resolve('exited')));
    const deadline = Date.now() + 20_000;
    let up = false;
    while (Date.now() < deadline) {
      const r = await Promise.race([
        exited,
        fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) }).then(
          (res) => (res.ok ? 'up' : 'no'),
          () => 'no',
        ),
      ]);
      if (r === 'exited') break;
      if (r === 'up') {
        up = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    if (up) {
      // A test run that dies must not leave moto behind.
      const kill = () => child.kill('SIGKILL');
      process.once('exit', kill);
      child.once('exit', () => process.off('exit', kill));
      return { value: { endpoint, pid: child.pid }, child, signal: (sig) => child.kill(sig) };
    }
    child.kill('SIGKILL');
    if (attempt >= 3) throw new Error(`moto_server did not start on port ${port}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

const acquire = sharedProcess(() => launch());

/** Start moto (or join the one this test file already started). */
export async function startMoto(): Promise<Moto> {
  const held = await acquire();
  return { endpoint: held.value.endpoint, pid: held.value.pid, stop: held.release };
}

/** A moto of its own (not shared) run by `script`, a Python file that patches moto and then serves it like moto_server. */
export async function startPatchedMoto(script: string): Promise<Moto> {
  const l = await launch(script);
  return { endpoint: l.value.endpoint, pid: l.value.pid, stop: () => terminate(l) };
}
