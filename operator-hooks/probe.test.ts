import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeConfig } from './config';
import { runProbe } from './probe';

/** A stand-in beacon node (REST) or execution client (JSON-RPC) on 127.0.0.1, port 0. */
interface StandIn {
  head: number;
  genesis: number;
  timestamp: number;
  url: URL;
  server: Server;
}

async function standIn(kind: 'beacon' | 'execution', head: number): Promise<StandIn> {
  const node: StandIn = { head, genesis: 1_600_000_000, timestamp: 0, url: new URL('http://127.0.0.1'), server: undefined as unknown as Server };
  node.server = createServer((req, res) => {
    const json = (v: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    if (kind === 'beacon' && req.url === '/eth/v1/node/syncing') return json({ data: { head_slot: String(node.head), sync_distance: '0', is_syncing: false } });
    if (kind === 'beacon' && req.url === '/eth/v1/beacon/genesis') return json({ data: { genesis_time: String(node.genesis) } });
    if (kind === 'execution' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { method, id } = JSON.parse(body) as { method: string; id: number };
        if (method === 'eth_blockNumber') return json({ jsonrpc: '2.0', id, result: `0x${node.head.toString(16)}` });
        if (method === 'eth_getBlockByNumber') return json({ jsonrpc: '2.0', id, result: { number: `0x${node.head.toString(16)}`, timestamp: `0x${node.timestamp.toString(16)}` } });
        json({ jsonrpc: '2.0', id, error: { code: -32601 } });
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => node.server.listen(0, '127.0.0.1', r));
  node.url = new URL(`http://127.0.0.1:${(node.server.address() as AddressInfo).port}`);
  return node;
}

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));
let dir: string;
const nodes: StandIn[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-probe-'));
});
afterEach(async () => {
  for (const n of nodes.splice(0)) if (n.server.listening) await close(n.server);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let files = 0;
const config = (over: Partial<ProbeConfig> & Pick<ProbeConfig, 'localUrl'>): ProbeConfig => ({
  verb: 'probe',
  validator: 'v1',
  kind: 'beacon',
  referenceUrls: [],
  maxBehindSeconds: 60,
  blockTimeSeconds: 12,
  graceMs: 300_000,
  stateFile: join(dir, `state-${files++}.json`),
  ...over,
});

async function beacons(local: number, ...refs: number[]): Promise<{ local: StandIn; refs: StandIn[] }> {
  const l = await standIn('beacon', local);
  const r = await Promise.all(refs.map((h) => standIn('beacon', h)));
  nodes.push(l, ...r);
  return { local: l, refs: r };
}

const now = () => Date.UTC(2026, 0, 1);

describe('blocks-behind probe against references', () => {
  it('is healthy in sync', async () => {
    const { local, refs } = await beacons(1000, 1000, 999);
    const r = await runProbe(config({ localUrl: local.url, referenceUrls: refs.map((x) => x.url) }), { now });
    expect(r).toMatchObject({ healthy: true, behindSeconds: 0, localDownSince: null });
  });

  it('is healthy behind by less than the threshold, unhealthy by more (12 s slots, 60 s limit)', async () => {
    const { local, refs } = await beacons(1000, 1004, 1006);
    const c = config({ localUrl: local.url, referenceUrls: refs.map((x) => x.url) });
    refs[1]!.head = 1004; // 4 slots = 48 s
    expect(await runProbe(c, { now })).toMatchObject({ healthy: true, behindSeconds: 48 });
    refs[1]!.head = 1006; // 6 slots = 72 s, measured against the highest reference
    const r = await runProbe(c, { now });
    expect(r).toMatchObject({ healthy: false, behindSeconds: 72 });
    expect(r.reason).toMatch(/too far behind: 72s behind \(6 block\(s\) behind the highest of 2\/2 reference\(s\)\); limit 60s/);
  });

  it('means the same with the same time threshold on a 1 s chain and a 12 s chain', async () => {
    const { local, refs } = await beacons(0, 0);
    const at = (blockTime: number) => config({ localUrl: local.url, referenceUrls: [refs[0]!.url], blockTimeSeconds: blockTime, maxBehindSeconds: 60 });
    const cases: [blockTime: number, behindBlocks: number, healthy: boolean][] = [
      [1, 30, true],
      [1, 59, true],
      [1, 61, false],
      [1, 100, false],
      [12, 2, true],
      [12, 5, true],
      [12, 6, false],
    ];
    for (const [blockTime, behind, healthy] of cases) {
      local.head = 10_000;
      refs[0]!.head = 10_000 + behind;
      const r = await runProbe(at(blockTime), { now });
      expect({ blockTime, behind, healthy: r.healthy, seconds: r.behindSeconds }).toEqual({ blockTime, behind, healthy, seconds: behind * blockTime });
    }
  });

  it('ignores references that do not answer, and falls back to the clock when none does', async () => {
    const { local, refs } = await beacons(1000, 1002);
    const dead = new URL('http://127.0.0.1:1');
    const c = config({ localUrl: local.url, referenceUrls: [dead, refs[0]!.url] });
    expect(await runProbe(c, { now })).toMatchObject({ healthy: true, behindSeconds: 24 });
    await close(refs[0]!.server);
    local.genesis = now() / 1000 - 1000 * 12 - 5; // wall-clock slot is 1000
    const r = await runProbe(c, { now });
    expect(r).toMatchObject({ healthy: true, behindSeconds: 0 });
    expect(r.reason).toContain('no reference answered');
  });

  it('records a fallback to the clock as such, with why each reference failed, and clears it when one answers', async () => {
    const { local, refs } = await beacons(1000, 1000);
    local.genesis = now() / 1000 - 1000 * 12 - 5;
    const c = config({ localUrl: local.url, referenceUrls: [refs[0]!.url] });
    expect(await runProbe(c, { now })).toMatchObject({ basis: 'reference', fallback: false, referenceErrors: [], limitSeconds: 60 });
    await close(refs[0]!.server);
    const r = await runProbe(c, { now });
    expect(r).toMatchObject({ healthy: true, basis: 'wall-clock', fallback: true });
    expect(r.referenceErrors).toEqual([expect.stringContaining(refs[0]!.url.origin)]);
    expect(r.reason).toContain('FALLBACK');
  });

  it('is no fallback when no reference is configured: the clock is then the chosen basis', async () => {
    const { local } = await beacons(1000);
    local.genesis = now() / 1000 - 1000 * 12 - 5;
    expect(await runProbe(config({ localUrl: local.url }), { now })).toMatchObject({ basis: 'wall-clock', fallback: false });
  });
});

describe('blocks-behind probe without references: wall clock and genesis', () => {
  it('compares the head slot with the slot the clock implies', async () => {
    const { local } = await beacons(5000);
    local.genesis = now() / 1000 - 5004 * 12; // the clock says slot 5004: 4 behind = 48 s
    const c = config({ localUrl: local.url });
    expect(await runProbe(c, { now })).toMatchObject({ healthy: true, behindSeconds: 48 });
    local.genesis -= 2 * 12; // slot 5006: 72 s
    expect(await runProbe(c, { now })).toMatchObject({ healthy: false, behindSeconds: 72 });
  });

  it('uses the head block age for an execution client', async () => {
    const el = await standIn('execution', 123);
    nodes.push(el);
    el.timestamp = now() / 1000 - 30;
    const c = config({ kind: 'execution', localUrl: el.url, blockTimeSeconds: 1 });
    expect(await runProbe(c, { now })).toMatchObject({ healthy: true, behindSeconds: 30 });
    el.timestamp = now() / 1000 - 90;
    expect(await runProbe(c, { now })).toMatchObject({ healthy: false, behindSeconds: 90 });
  });

  it('compares execution block numbers with references', async () => {
    const local = await standIn('execution', 1_000);
    const ref = await standIn('execution', 1_040);
    nodes.push(local, ref);
    const c = config({ kind: 'execution', localUrl: local.url, referenceUrls: [ref.url], blockTimeSeconds: 2, maxBehindSeconds: 60 });
    expect(await runProbe(c, { now })).toMatchObject({ healthy: false, behindSeconds: 80 });
  });
});

describe('local node down', () => {
  it('counts as unhealthy only after the grace period, and recovers when the node answers again', async () => {
    const { local } = await beacons(1000, 1000);
    const port = Number(local.url.port);
    await close(local.server);
    const c = config({ localUrl: local.url, graceMs: 120_000 });
    let t = now();
    const clock = () => t;
    const first = await runProbe(c, { now: clock });
    expect(first).toMatchObject({ healthy: true, localDownSince: t });
    expect(first.reason).toMatch(/not answering .* tolerated/);
    t += 119_000;
    expect(await runProbe(c, { now: clock })).toMatchObject({ healthy: true, localDownSince: now() });
    t += 1_000;
    const late = await runProbe(c, { now: clock });
    expect(late.healthy).toBe(false);
    expect(late.reason).toMatch(/past the 120\.0s grace/);
    // The beacon node is back (same port): healthy at once, outage forgotten.
    await new Promise<void>((r) => local.server.listen(port, '127.0.0.1', r));
    local.genesis = t / 1000 - 1000 * 12;
    expect(await runProbe(c, { now: clock })).toMatchObject({ healthy: true, localDownSince: null });
  });
});
