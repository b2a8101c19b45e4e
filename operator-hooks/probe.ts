// `keyhold-hook probe`, the blocks-behind liveness check (the harakiri pattern
// from Blockdaemon's design): a validator far behind the chain is not signing
// correctly anyway, so the pod had better restart. Distance is measured in
// time, converted from blocks by the block time, so one setting means the
// same on a 1 s chain and a 12 s chain. The local node being unreachable
// counts only after a grace period: a beacon-node restart must not take the
// validator down with it. Each run is a new process, so the start of an
// outage is remembered in a small state file.

import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { ProbeConfig } from './config';
import { seconds } from './log';

/** What the distance was measured against: reference nodes, or the local node's own clock-based view. */
export type ProbeBasis = 'reference' | 'wall-clock' | 'head-age';

export interface ProbeRecord {
  readonly checkedAt: number;
  readonly healthy: boolean;
  readonly reason: string;
  readonly behindSeconds: number | null;
  /** Null while the local node does not answer. */
  readonly basis: ProbeBasis | null;
  /**
   * References are configured but none answered, so the distance came from
   * the clock: still a judgement, but one a node stuck on a minority fork
   * passes. Kept visible (metric, keeper log) instead of silent.
   */
  readonly fallback: boolean;
  /** The reference URLs that did not answer at the last check, with why (no credentials are ever in these URLs). */
  readonly referenceErrors: readonly string[];
  readonly limitSeconds: number;
  /** Wall-clock ms since when the local node has not answered; null while it answers. */
  readonly localDownSince: number | null;
}

export interface ProbeDeps {
  readonly now: () => number;
  readonly timeoutMs?: number;
}

class NodeUnavailable extends Error {}

async function call(url: URL, init: RequestInit, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs))), redirect: 'error' });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    throw new NodeUnavailable(err.name === 'TimeoutError' ? 'no answer in time' : (err.cause?.code ?? err.name));
  }
  if (!res.ok) throw new NodeUnavailable(`HTTP ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new NodeUnavailable('answer is not JSON');
  }
}

const join = (base: URL, path: string): URL => new URL(path.replace(/^\//, ''), base.href.endsWith('/') ? base : new URL(`${base.href}/`));

const integer = (v: unknown, what: string): number => {
  const n = typeof v === 'string' ? (v.startsWith('0x') ? Number.parseInt(v, 16) : Number(v)) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new NodeUnavailable(`unreadable ${what}`);
  return n;
};

/** Head slot from the beacon API's sync status. */
export async function beaconHeadSlot(url: URL, timeoutMs: number): Promise<number> {
  const body = (await call(join(url, '/eth/v1/node/syncing'), { headers: { accept: 'application/json' } }, timeoutMs)) as { data?: { head_slot?: unknown } };
  return integer(body?.data?.head_slot, 'head_slot');
}

export async function beaconGenesisTime(url: URL, timeoutMs: number): Promise<number> {
  const body = (await call(join(url, '/eth/v1/beacon/genesis'), { headers: { accept: 'application/json' } }, timeoutMs)) as { data?: { genesis_time?: unknown } };
  return integer(body?.data?.genesis_time, 'genesis_time');
}

async function rpc(url: URL, method: string, params: unknown[], timeoutMs: number): Promise<unknown> {
  const body = (await call(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) },
    timeoutMs,
  )) as { result?: unknown };
  return body?.result;
}

export const executionBlockNumber = async (url: URL, timeoutMs: number): Promise<number> => integer(await rpc(url, 'eth_blockNumber', [], timeoutMs), 'block number');

export async function executionHeadTimestamp(url: URL, timeoutMs: number): Promise<number> {
  const block = (await rpc(url, 'eth_getBlockByNumber', ['latest', false], timeoutMs)) as { timestamp?: unknown } | null;
  return integer(block?.timestamp, 'block timestamp');
}

export interface Measurement {
  readonly behindSeconds: number;
  /** Human-readable: what was compared with what. */
  readonly detail: string;
  readonly basis: ProbeBasis;
  readonly fallback: boolean;
  readonly referenceErrors: readonly string[];
}

/** Seconds behind, and what they were measured against. Throws NodeUnavailable when the local node cannot say. */
export async function measureBehind(c: ProbeConfig, nowMs: number, timeoutMs: number): Promise<Measurement> {
  const head = c.kind === 'beacon' ? beaconHeadSlot : executionBlockNumber;
  const local = await head(c.localUrl, timeoutMs);
  let referenceErrors: string[] = [];
  if (c.referenceUrls.length > 0) {
    const answers = await Promise.allSettled(c.referenceUrls.map((u) => head(u, timeoutMs)));
    const heads = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    referenceErrors = answers.flatMap((a, i) => (a.status === 'rejected' ? [`${c.referenceUrls[i]!.origin}: ${a.reason instanceof Error ? a.reason.message : 'failed'}`] : []));
    if (heads.length > 0) {
      const blocks = Math.max(0, Math.max(...heads) - local);
      return { behindSeconds: blocks * c.blockTimeSeconds, detail: `${blocks} block(s) behind the highest of ${heads.length}/${answers.length} reference(s)`, basis: 'reference', fallback: false, referenceErrors };
    }
    // No reference answered: judge by the clock rather than not at all, and say so.
  }
  const fallback = c.referenceUrls.length > 0;
  const note = fallback ? ` (FALLBACK: no reference answered: ${referenceErrors.join('; ')})` : '';
  if (c.kind === 'beacon') {
    const genesis = await beaconGenesisTime(c.localUrl, timeoutMs);
    const expected = Math.floor((nowMs / 1000 - genesis) / c.blockTimeSeconds);
    const slots = Math.max(0, expected - local);
    return { behindSeconds: slots * c.blockTimeSeconds, detail: `${slots} slot(s) behind the wall-clock slot ${expected}${note}`, basis: 'wall-clock', fallback, referenceErrors };
  }
  const ts = await executionHeadTimestamp(c.localUrl, timeoutMs);
  const behind = Math.max(0, nowMs / 1000 - ts);
  return { behindSeconds: behind, detail: `the head block is ${behind.toFixed(0)}s old${note}`, basis: 'head-age', fallback, referenceErrors };
}

/** The last probe's record (the keeper reads it for metrics and logs), or null when there is none yet. */
export async function readProbeRecord(path: string): Promise<ProbeRecord | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ProbeRecord;
  } catch {
    return null;
  }
}

async function writeRecord(path: string, r: ProbeRecord): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(r)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function runProbe(c: ProbeConfig, deps: ProbeDeps): Promise<ProbeRecord> {
  const now = deps.now();
  const previous = await readProbeRecord(c.stateFile);
  let record: ProbeRecord;
  try {
    const m = await measureBehind(c, now, deps.timeoutMs ?? 5000);
    const healthy = m.behindSeconds <= c.maxBehindSeconds;
    const rounded = Math.round(m.behindSeconds * 1000) / 1000;
    record = {
      checkedAt: now,
      healthy,
      reason: `${healthy ? 'in sync' : 'too far behind'}: ${rounded}s behind (${m.detail}); limit ${c.maxBehindSeconds}s`,
      behindSeconds: rounded,
      basis: m.basis,
      fallback: m.fallback,
      referenceErrors: m.referenceErrors,
      limitSeconds: c.maxBehindSeconds,
      localDownSince: null,
    };
  } catch (e) {
    if (!(e instanceof NodeUnavailable)) throw e;
    const since = previous?.localDownSince ?? now;
    const down = now - since;
    const healthy = down < c.graceMs;
    record = {
      checkedAt: now,
      healthy,
      reason: `local node ${c.localUrl.origin} not answering (${e.message}) for ${seconds(down)}; ${healthy ? `tolerated for ${seconds(c.graceMs)}` : `past the ${seconds(c.graceMs)} grace`}`,
      behindSeconds: previous?.behindSeconds ?? null,
      basis: null,
      fallback: false,
      referenceErrors: [],
      limitSeconds: c.maxBehindSeconds,
      localDownSince: since,
    };
  }
  await writeRecord(c.stateFile, record).catch(() => undefined);
  return record;
}
