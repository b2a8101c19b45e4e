// The CLI against a real broker on loopback, as an operator runs it: a
// broker served over HTTP, an operator credential on disk, and a runner that
// captures stdout, stderr and the exit code.

import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { runCli, type CliIo } from '../../src/cli/main';
import { testBroker, type TestBroker } from './fixtures';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRig {
  readonly b: TestBroker;
  readonly dir: string;
  /** What the CLI runs with: the broker's URL, the operator credential, the home. */
  readonly env: Readonly<Record<string, string>>;
  cli(args: string[], opts?: { confirm?: boolean | null; env?: Record<string, string> }): Promise<CliRun>;
  close(): void;
}

export async function cliRig(overrides: Parameters<typeof testBroker>[0] = {}): Promise<CliRig> {
  const b = await testBroker(overrides);
  // The CLI signs with the real clock; keep the broker's clock real too.
  b.clock.t = Date.now();
  const server = serve({ fetch: b.app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-cli-'));
  await writeFile(join(dir, 'operator.json'), JSON.stringify(b.operator.credential), { mode: 0o600 });
  const env = { KEYHOLD_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, KEYHOLD_OPERATOR_CREDENTIAL: join(dir, 'operator.json'), KEYHOLD_HOME: dir };
  return {
    b,
    dir,
    env,
    async cli(args, opts = {}) {
      // The CLI signs with the real clock: keep the broker's caught up (never back), however slow the run.
      b.clock.t = Math.max(b.clock.t, Date.now());
      let stdout = '';
      let stderr = '';
      const io: CliIo = {
        env: { ...env, ...opts.env },
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        confirm: opts.confirm === undefined || opts.confirm === null ? null : async () => opts.confirm as boolean,
      };
      const code = await runCli(args, io);
      return { code, stdout, stderr };
    },
    close: () => server.close(),
  };
}
