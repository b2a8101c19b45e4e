import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpBrokerClient, parseRetryAfter } from './broker-client';

let server: Server;
let url: URL;
let dir: string;
const seen: { auth: string | undefined; body: unknown }[] = [];
let reply: (path: string) => { status: number; body: unknown; headers?: Record<string, string>; delayMs?: number } = () => ({ status: 200, body: {} });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-client-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ auth: req.headers.authorization, body: JSON.parse(body) as unknown });
      const r = reply(req.url ?? '');
      setTimeout(() => {
        res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
        res.end(JSON.stringify(r.body));
      }, r.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('broker client', () => {
  it('re-reads the token file on every request (the kubelet rotates it)', async () => {
    const tokenFile = join(dir, 'token');
    const client = httpBrokerClient({ url, validator: 'v1', tokenFile, timeoutMs: 2000 });
    reply = () => ({ status: 200, body: { grant: 'g' } });
    await writeFile(tokenFile, 'token-one-aaaaaaaaaaaa\n');
    await client.renew('a.b.c');
    await writeFile(tokenFile, 'token-two-bbbbbbbbbbbb\n');
    const r = await client.renew('a.b.c');
    expect(r.ok).toBe(true);
    expect(seen.slice(-2).map((s) => s.auth)).toEqual(['Bearer token-one-aaaaaaaaaaaa', 'Bearer token-two-bbbbbbbbbbbb']);
    expect(seen.at(-1)!.body).toEqual({ grant: 'a.b.c' });
  });

  it('keeps the refusal code and Retry-After, and turns a timeout (even a fractional one) into unreachable', async () => {
    const tokenFile = join(dir, 'token');
    const client = httpBrokerClient({ url, validator: 'v1', tokenFile, timeoutMs: 2000 });
    reply = () => ({ status: 425, body: { code: 'not_before', message: 'later' }, headers: { 'retry-after': '31' } });
    expect(await client.fetchGrant({ kty: 'OKP', crv: 'X25519', x: 'abc' })).toEqual({ ok: false, kind: 'refused', status: 425, code: 'not_before', retryAfterMs: 31_000 });
    expect(seen.at(-1)!.body).toEqual({ validator: 'v1', ephemeralKey: { kty: 'OKP', crv: 'X25519', x: 'abc' } });
    reply = () => ({ status: 200, body: {}, delayMs: 500 });
    expect(await client.renew('a.b.c', { timeoutMs: 120.7 })).toEqual({ ok: false, kind: 'unreachable', reason: 'no answer in time' });
    const missing = httpBrokerClient({ url, validator: 'v1', tokenFile: join(dir, 'nope'), timeoutMs: 2000 });
    expect(await missing.renew('a.b.c')).toMatchObject({ ok: false, kind: 'unreachable', reason: expect.stringContaining('KEYHOLD_TOKEN_FILE') });
  });

  it('asks the broker to hold the answer with `wait`, and waits that much longer for it', async () => {
    const client = httpBrokerClient({ url, validator: 'v1', tokenFile: join(dir, 'token'), timeoutMs: 500 });
    reply = () => ({ status: 201, body: { grant: 'g' }, delayMs: 1_200 });
    expect(await client.fetchGrant({ kty: 'OKP', crv: 'X25519', x: 'abc' }, { waitMs: 2_000 })).toMatchObject({ ok: true, status: 201 });
    expect(seen.at(-1)!.body).toEqual({ validator: 'v1', ephemeralKey: { kty: 'OKP', crv: 'X25519', x: 'abc' }, wait: 2 });
    // Without a wait the same slow answer is past the timeout.
    expect(await client.fetchGrant({ kty: 'OKP', crv: 'X25519', x: 'abc' })).toEqual({ ok: false, kind: 'unreachable', reason: 'no answer in time' });
  });

  it('sends the interchange with a release only when there is one, and always the stop evidence', async () => {
    const client = httpBrokerClient({ url, validator: 'v1', tokenFile: join(dir, 'token'), timeoutMs: 2000 });
    reply = () => ({ status: 200, body: { outcome: 'released', epoch: 1, slashingProtection: 'none' } });
    await client.release('a.b.c', null, 'unproven');
    expect(seen.at(-1)!.body).toEqual({ grant: 'a.b.c', stop: 'unproven' });
    await client.release('a.b.c', { metadata: {} }, 'proven');
    expect(seen.at(-1)!.body).toEqual({ grant: 'a.b.c', slashingProtection: { metadata: {} }, stop: 'proven' });
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('5', 0)).toBe(5000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon', 0)).toBeNull();
    expect(parseRetryAfter(null, 0)).toBeNull();
  });
});
