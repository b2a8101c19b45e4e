// The Node server at the edges, over real sockets: refusals that leave the
// body unread close the connection (and say so), normal answers keep it,
// slow clients are cut off, and the next client on a new connection is served.

import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serveApp, type Serving } from '../../src/http/node-server';
import { testBroker, type TestBroker } from '../support/fixtures';
import { pod, podHeaders, slot0 } from './helpers';

interface Answer { status: number; headers: Record<string, string>; body: string }

/** Reads one HTTP/1.1 answer (Content-Length framed) from the socket. */
function readAnswer(socket: Socket, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no complete answer in ${timeoutMs} ms: ${buf.toString().slice(0, 200)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = buf.subarray(0, end).toString().split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const length = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + length) return;
      done(null, { status: Number(statusLine!.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString() });
    };
    const onEnd = () => done(new Error(`closed before a complete answer: ${buf.toString().slice(0, 200)}`));
    function done(err: Error | null, a?: Answer) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (err) reject(err);
      else resolve(a!);
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

const closedWithin = (socket: Socket, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (socket.readableEnded || socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.resume();
  });

const open = (s: Serving): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(s.url).port), '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

let serving: Serving | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await serving?.close();
  serving = undefined;
});

async function start(b: TestBroker, timeouts = { headerTimeoutMs: 10_000, bodyTimeoutMs: 30_000 }) {
  serving = await serveApp(b.app.fetch, { host: '127.0.0.1', port: 0, ...timeouts });
  return serving;
}
async function socketTo(s: Serving) {
  const socket = await open(s);
  sockets.push(socket);
  return socket;
}

describe('the Node server', () => {
  it('answers a body refused before it is read with Connection: close, closes, and serves the next connection', async () => {
    const b = await testBroker();
    const s = await start(b);
    const p = await pod(slot0);
    const cases: { name: string; headers: Record<string, string>; length: number; status: number; code: string }[] = [
      { name: 'too large', headers: await podHeaders(b, p), length: 2 * 1024 * 1024, status: 413, code: 'body_too_large' },
      { name: 'wrong media type', headers: await podHeaders(b, p, { 'content-type': 'text/plain' }), length: 1000, status: 415, code: 'unsupported_media_type' },
      { name: 'unauthenticated', headers: { 'content-type': 'application/json' }, length: 1000, status: 401, code: 'unauthenticated' },
    ];
    for (const c of cases) {
      const socket = await socketTo(s);
      const answer = readAnswer(socket);
      socket.write(head('POST', '/v1/grants', { ...c.headers, 'content-length': c.length }));
      socket.write('{"validator":"v1",'); // and the rest never comes
      const a = await answer;
      expect([c.name, a.status, JSON.parse(a.body).code, a.headers.connection]).toEqual([c.name, c.status, c.code, 'close']);
      expect(await closedWithin(socket, 3000), `${c.name}: connection closed`).toBe(true);

      const next = await socketTo(s);
      const ok = readAnswer(next);
      next.write(head('GET', '/healthz', {}));
      expect((await ok).status).toBe(200);
    }
  });

  it('lets a client that sent 2 MiB go on with its next request', async () => {
    const b = await testBroker();
    const s = await start(b);
    const refused = await fetch(`${s.url}/v1/grants`, { method: 'POST', headers: await podHeaders(b, await pod(slot0)), body: 'x'.repeat(2 * 1024 * 1024) });
    expect([refused.status, refused.headers.get('connection'), (await refused.json()).code]).toEqual([413, 'close', 'body_too_large']);
    for (let i = 0; i < 3; i += 1) expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('keeps the connection for an answer to a request whose body it read', async () => {
    const b = await testBroker();
    const s = await start(b);
    const socket = await socketTo(s);
    const p = await pod(slot0);
    for (let i = 0; i < 2; i += 1) {
      const a = readAnswer(socket);
      socket.write(head('POST', '/v1/grants', { ...(await podHeaders(b, p)), 'content-length': 2 }) + '{}');
      const got = await a;
      expect([got.status, JSON.parse(got.body).code, got.headers.connection]).toEqual([400, 'invalid_request', 'keep-alive']);
    }
  });

  it('cuts off a client that is slow with its headers', async () => {
    const b = await testBroker();
    const s = await start(b, { headerTimeoutMs: 300, bodyTimeoutMs: 5000 });
    const socket = await socketTo(s);
    const seen: Buffer[] = [];
    socket.on('data', (d: Buffer) => seen.push(d));
    socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    const t0 = Date.now();
    expect(await closedWithin(socket, 3000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Buffer.concat(seen).toString()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('cuts off a client that is slow with its body', async () => {
    const b = await testBroker();
    const s = await start(b, { headerTimeoutMs: 300, bodyTimeoutMs: 700 });
    const socket = await socketTo(s);
    socket.write(head('POST', '/v1/grants', { ...(await podHeaders(b, await pod(slot0))), 'content-length': 100 }));
    socket.write('{"validator":');
    const t0 = Date.now();
    expect(await closedWithin(socket, 4000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });
});
