// Each fault kind as node-vault and fetch see it, and the standalone CLI.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type NodeVault from 'node-vault';
import { startVaultEmulator } from './server';
import type { VaultEmulator } from './server';

let vault: VaultEmulator;
let client: NodeVault.client;

/** The error node-vault (axios) rejects with when there is no HTTP answer. */
async function transportError(p: Promise<unknown>): Promise<{ code?: string; message: string; response?: unknown }> {
  return (await p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  )) as { code?: string; message: string; response?: unknown };
}

beforeAll(async () => {
  vault = await startVaultEmulator();
  client = (await import('node-vault')).default({ apiVersion: 'v1', endpoint: vault.address, token: vault.token });
});
afterAll(() => vault.close());
beforeEach(async () => {
  vault.faults.clear();
  await vault.listening();
  vault.reset();
  await client.write('secret/data/k', { data: { v: 1 } });
});

describe('faults keyed "<METHOD> <route family>"', () => {
  it('latency delays the answer', async () => {
    vault.faults.set('GET data', { kind: 'latency', ms: 150 });
    const started = performance.now();
    expect((await client.read('secret/data/k')).data.data).toEqual({ v: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hang never answers: node-vault times out with the per-call axios timeout, fetch with an AbortSignal', async () => {
    vault.faults.set('GET data', { kind: 'hang' });
    const err = await transportError(client.read('secret/data/k', { timeout: 200 }));
    expect(err.code).toBe('ECONNABORTED');
    expect(err.response).toBeUndefined();
    await expect(fetch(`${vault.address}/v1/secret/data/k`, { headers: { 'X-Vault-Token': vault.token }, signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('error is a 500 with Vault\'s error shape, for `times` calls only', async () => {
    vault.faults.set('PUT data', { kind: 'error' }, { times: 1 });
    // POST is keyed as PUT: Vault treats the two alike.
    const err = (await transportError(client.write('secret/data/k', { data: { v: 2 } }))) as unknown as { response: { statusCode: number; body: unknown } };
    expect(err.response).toEqual({ statusCode: 500, body: { errors: ['internal error'] } });
    expect((await client.write('secret/data/k', { data: { v: 2 } })).data.version).toBe(2);
  });

  it('throttle is a 429 with a Retry-After', async () => {
    vault.faults.set('LIST metadata', { kind: 'throttle' });
    const res = await fetch(`${vault.address}/v1/secret/metadata?list=true`, { headers: { 'X-Vault-Token': vault.token } });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ errors: ['request path "secret/metadata/": rate limit quota exceeded'] });
    expect(((await transportError(client.list('secret/metadata'))) as unknown as { response: { statusCode: number } }).response.statusCode).toBe(429);
    expect((await client.read('secret/data/k')).data.data).toEqual({ v: 1 });
  });

  it('reset destroys the connection without an answer', async () => {
    vault.faults.set('*', { kind: 'reset' }, { times: 2 });
    const err = await transportError(client.read('secret/data/k'));
    expect(err.response).toBeUndefined();
    expect(['ECONNRESET', 'ERR_BAD_RESPONSE']).toContain(err.code);
    await expect(fetch(`${vault.address}/v1/sys/health`)).rejects.toThrow(TypeError);
    expect((await client.read('secret/data/k')).data.data).toEqual({ v: 1 });
  });

  it('down closes the port; clearing it rebinds the same address with state intact', async () => {
    vault.faults.set('*', { kind: 'down' });
    await vault.listening();
    // A pooled keep-alive socket may first surface as a reset; a new connection is refused.
    expect(['ECONNRESET', 'ECONNREFUSED']).toContain((await transportError(client.read('secret/data/k'))).code);
    expect((await transportError(client.read('secret/data/k'))).code).toBe('ECONNREFUSED');
    vault.faults.clear('*');
    await vault.listening();
    expect((await client.read('secret/data/k')).data.data).toEqual({ v: 1 });
  });

  it('login, lookup-self, renew-self and health have their own keys', async () => {
    vault.faults.set('PUT login', { kind: 'error' });
    vault.faults.set('GET lookup-self', { kind: 'throttle' });
    vault.faults.set('GET health', { kind: 'error' });
    const login = await fetch(`${vault.address}/v1/auth/approle/login`, { method: 'POST', body: '{}' });
    expect(login.status).toBe(500);
    expect((await fetch(`${vault.address}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': vault.token } })).status).toBe(429);
    expect((await fetch(`${vault.address}/v1/sys/health`)).status).toBe(500);
    expect((await fetch(`${vault.address}/v1/secret/data/k`, { headers: { 'X-Vault-Token': vault.token } })).status).toBe(200);
  });
});

describe('standalone CLI', () => {
  it('prints one JSON line with address and token, and serves on it', async () => {
    // Its own process group: npx does not pass SIGTERM on to tsx and node, so the whole group is signalled.
    const child = spawn('npx', ['tsx', 'test/emulators/cli.ts', 'vault', '--port', '0'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`cli exited with ${code}`)));
      });
      const printed = JSON.parse(first) as { emulator: string; address: string; token: string; port: number };
      expect(printed).toMatchObject({ emulator: 'vault', address: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), token: expect.stringMatching(/^hvs\./) });
      const res = await fetch(`${printed.address}/v1/sys/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ initialized: true, sealed: false });
      const self = await fetch(`${printed.address}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': printed.token } });
      expect(self.status).toBe(200);
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    }
  }, 60_000);
});
