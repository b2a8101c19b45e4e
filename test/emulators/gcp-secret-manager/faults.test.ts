// Each injected fault as the official client experiences it.
import net from 'node:net';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { addVersion, codeOf, createSecret, eventually, secretPath, useEmulator } from './harness';

const ctx = useEmulator();

const get = (id = 'f', timeout = 5_000) => ctx.client.getSecret({ name: secretPath(id) }, { timeout });

describe('faults', () => {
  it('latency: delays, then serves', async () => {
    await createSecret(ctx.client, 'f');
    ctx.emulator.faults.set('GetSecret', { kind: 'latency', ms: 250 });
    const started = Date.now();
    expect(await codeOf(get())).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('hang: never answers, so the client ends with DEADLINE_EXCEEDED at its own timeout', async () => {
    await createSecret(ctx.client, 'f');
    await addVersion(ctx.client, 'f', 'v');
    ctx.emulator.faults.set('AccessSecretVersion', { kind: 'hang' });
    const started = Date.now();
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('f')}/versions/latest` }, { timeout: 300 }))).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(3_000);
    // Other methods are untouched and the hang ends when cleared.
    expect(await codeOf(get())).toBe('ok');
    ctx.emulator.faults.clear('AccessSecretVersion');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('f')}/versions/latest` }, { timeout: 2_000 }))).toBe('ok');
  });

  it('error: INTERNAL', async () => {
    await createSecret(ctx.client, 'f');
    ctx.emulator.faults.set('GetSecret', { kind: 'error' });
    expect(await codeOf(get())).toBe(status.INTERNAL);
  });

  it('throttle: RESOURCE_EXHAUSTED, for the given number of calls', async () => {
    await createSecret(ctx.client, 'f');
    ctx.emulator.faults.set('GetSecret', { kind: 'throttle' }, { times: 2 });
    expect(await codeOf(get())).toBe(status.RESOURCE_EXHAUSTED);
    expect(await codeOf(get())).toBe(status.RESOURCE_EXHAUSTED);
    expect(await codeOf(get())).toBe('ok');
  });

  it('reset: the TCP connection is aborted, failing every call on it with UNAVAILABLE, and the client reconnects', async () => {
    await createSecret(ctx.client, 'f');
    await addVersion(ctx.client, 'f', 'v');
    // A call parked on the same connection proves the connection itself was
    // cut, not merely one call answered with a status.
    ctx.emulator.faults.set('AccessSecretVersion', { kind: 'hang' });
    const started = Date.now();
    const parked = codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('f')}/versions/1` }, { timeout: 5_000, retry: null }));
    await new Promise((r) => setTimeout(r, 100));
    ctx.emulator.faults.set('GetSecret', { kind: 'reset' }, { times: 1 });
    expect(await codeOf(get())).toBe(status.UNAVAILABLE);
    expect(await parked).toBe(status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(await eventually(() => get())).toBeDefined();
  });

  it("'*' applies to every method and a method's own rule wins over it", async () => {
    await createSecret(ctx.client, 'f');
    ctx.emulator.faults.set('*', { kind: 'error' });
    ctx.emulator.faults.set('GetSecret', { kind: 'throttle' });
    expect(await codeOf(get())).toBe(status.RESOURCE_EXHAUSTED);
    expect(await codeOf(ctx.client.listSecretVersions({ parent: secretPath('f') }, { timeout: 5_000 }))).toBe(status.INTERNAL);
    expect(await codeOf(ctx.client.getIamPolicy({ resource: secretPath('f') }, { timeout: 5_000 }))).toBe(status.INTERNAL);
  });

  it('down: the port refuses connections until cleared, then the same port serves again', async () => {
    await createSecret(ctx.client, 'f');
    const { port } = ctx.emulator;
    ctx.emulator.faults.set('*', { kind: 'down' });
    expect(await codeOf(get('f', 2_000))).toBe(status.UNAVAILABLE);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    ctx.emulator.faults.clear();
    const [secret] = await eventually(() => get('f', 2_000));
    expect(secret.name).toMatch(/\/secrets\/f$/);
    expect(ctx.emulator.port).toBe(port);
  });
});
