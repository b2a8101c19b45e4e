// `npm start` that cannot start: one line naming what to change, exit code
// 1, no stack trace. Spawns the server as `npm start` runs it.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const tsx = join(root, 'node_modules/.bin/tsx');

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(tsx, ['src/server.ts'], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stderr, stdout });
    });
  });
}

const expectOneLine = (stderr: string, pattern: RegExp) => {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
};

const holders: Server[] = [];
afterAll(() => holders.forEach((h) => h.close()));

describe('start-up failures', () => {
  it('a port in use names the port and KEYHOLD_PORT', async () => {
    const holder = createServer();
    holders.push(holder);
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    const r = await start({ KEYHOLD_HOME: mkdtempSync(join(tmpdir(), 'keyhold-start-')), KEYHOLD_PORT: String(port) });
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, new RegExp(`^keyhold: port ${port} on 127\\.0\\.0\\.1 is already in use; .*KEYHOLD_PORT`));
  });

  it('a home that is not a usable directory names KEYHOLD_HOME', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keyhold-start-')), 'a-file');
    writeFileSync(file, 'not a directory');
    const r = await start({ KEYHOLD_HOME: file, KEYHOLD_PORT: '0' });
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /^keyhold: cannot use KEYHOLD_HOME .*a-file \(E[A-Z]+\): .*set KEYHOLD_HOME$/);
  });

  it('a store that refuses to open names the store and its setting', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keyhold-start-'));
    const r = await start({ KEYHOLD_HOME: home, KEYHOLD_PORT: '0', KEYHOLD_SQLITE_STATE_PATH: join(home, 'no-such-dir', 'state.db') });
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /^keyhold: the state store "sqlite" refused to open \([A-Za-z_]+\); .*KEYHOLD_STATE_STORE$/);
  });
});
