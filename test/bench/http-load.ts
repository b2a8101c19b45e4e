// The broker under load over HTTP, as pods would drive it: a child process
// composed from the environment exactly like `npm start` (embedded SQLite in a
// temp KEYHOLD_HOME), many validators imported through the API with the dev
// operator credential, one pod per validator with a token from the dev issuer.
// The load generator (autocannon) runs here; the broker runs alone in its child.
//
// Fetch: every pod already holds its grant, so each request is a re-issue,
// which is a full decision (designation CAS + ledger append, signed grant,
// JWE). Consecutive requests go to different validators, so in-flight
// requests do not race each other's compare-and-swap.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon, { type Request as LoadRequest, type Result } from 'autocannon';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { homeFiles, mintDevPodToken, readOperatorCredential } from '../../src/identity/dev-credentials';
import { operatorFetch } from '../support/operator-requests';
import { generatedKeyMaterial, testGenesisRoot } from '../support/fixtures';
import { cpuMs, firstJsonLine, nodeTs, rssSampler, type Bounded } from './children';
import { summarizeProfile } from './profile';
import { progress, round } from './report';

export interface LoadSettings {
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

export const defaultLoad: LoadSettings = { connections: 10, warmupSeconds: 2, seconds: 8 };

/**
 * Load each side takes before the broker and its ceiling are measured. A
 * broker child that has served two seconds is still compiling: V8's helper
 * threads (concurrent optimisation, then GC) used 0.7 ms per grant in the
 * first seconds and under 0.1 from about the fifteenth on, the main thread
 * 1.6 against 1.3, and the broker has far more code to warm than the
 * ceiling. A broker serves for hours, so both are measured warm.
 */
export const brokerWarmupSeconds = 12;

export interface LoadFigure {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU the server process used per answered request (all threads), ms; less sensitive to the machine's other load than the rate. */
  readonly cpuMsPerRequest?: number | null;
  /** The main thread's share: one core at most, the bound on requests a second when it is busy all the time. */
  readonly mainThreadMsPerRequest?: number | null;
}

export interface Served {
  readonly proc: Bounded;
  readonly url: string;
}

/** Our environment minus every KEYHOLD_* setting, so the child sees only what the bench gives it. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYHOLD_')) env[k] = v;
  return { ...env, ...extra };
}

/** `lifeMs`: the child's bounded life (it also exits on its own 10 s before). */
export async function serveChild(script: string, env: Record<string, string>, profileDir: string | null, lifeMs = 250_000): Promise<Served> {
  const proc = nodeTs(script, {
    env: cleanEnv({ ...env, BENCH_MAX_LIFE_MS: String(lifeMs - 10_000) }),
    lifeMs,
    nodeArgs: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  });
  const { port } = await firstJsonLine<{ port: number }>(proc, 60_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export async function load(label: string, url: string, settings: LoadSettings, requests: LoadRequest[] | undefined): Promise<Result> {
  const opts = { url, connections: settings.connections, pipelining: 1, timeout: 30, ...(requests ? { requests } : {}) };
  if (settings.warmupSeconds > 0) await autocannon({ ...opts, duration: settings.warmupSeconds });
  progress(`${label}: ${settings.seconds}s at ${settings.connections} connections`);
  const r = await autocannon({ ...opts, duration: settings.seconds });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) progress(`${label}: ${bad} failed requests (status ${JSON.stringify(r.statusCodeStats)}, errors ${r.errors}, timeouts ${r.timeouts})`);
  return r;
}

const figure = (r: Result): LoadFigure => ({ perSecond: round(r['2xx'] / r.duration, 0), p50: r.latency.p50, p99: r.latency.p99 });

/** Slices of one measurement pooled: the rate over all of them, the median p50 and the worst p99. */
function pooled(rs: readonly Result[], cpu: number | null, main: number | null): LoadFigure {
  const ok = rs.reduce((a, r) => a + r['2xx'], 0);
  const secs = rs.reduce((a, r) => a + r.duration, 0);
  const p50s = rs.map((r) => r.latency.p50).sort((a, b) => a - b);
  return {
    perSecond: round(ok / secs, 0),
    p50: p50s[Math.floor(p50s.length / 2)]!,
    p99: Math.max(...rs.map((r) => r.latency.p99)),
    cpuMsPerRequest: cpu === null || ok === 0 ? null : round(cpu / ok, 3),
    mainThreadMsPerRequest: main === null || ok === 0 ? null : round(main / ok, 3),
  };
}

/** Run `f` and return its result with the CPU `pid` used meanwhile. */
export async function withCpu<T>(pid: number, f: () => Promise<T>): Promise<{ value: T; cpu: number | null; main: number | null }> {
  const before = cpuMs(pid);
  const mainBefore = cpuMs(pid, pid);
  const value = await f();
  const after = cpuMs(pid);
  const mainAfter = cpuMs(pid, pid);
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  return { value, cpu: diff(before, after), main: diff(mainBefore, mainAfter) };
}

interface Side {
  readonly label: string;
  readonly url: string;
  readonly pid: number;
  readonly requests: LoadRequest[];
}

/**
 * A measured server against its baseline, in alternating slices (baseline,
 * subject, baseline, subject, ...), so whatever else the machine runs in the
 * meantime weighs on both sides alike; each side is warmed up once first.
 */
async function alternating(base: Side, subject: Side, settings: LoadSettings, slices = 4): Promise<{ base: LoadFigure; subject: LoadFigure }> {
  const slice = { ...settings, seconds: Math.max(1, Math.round(settings.seconds / slices)), warmupSeconds: 0 };
  const warm = { ...settings, seconds: settings.warmupSeconds, warmupSeconds: 0 };
  if (settings.warmupSeconds > 0) {
    await load(`${base.label} warm-up`, base.url, warm, base.requests);
    await load(`${subject.label} warm-up`, subject.url, warm, subject.requests);
  }
  const b: Result[] = [];
  const s: Result[] = [];
  let cpuB: number | null = 0;
  let cpuS: number | null = 0;
  let mainB: number | null = 0;
  let mainS: number | null = 0;
  const add = (total: number | null, x: number | null) => (total === null || x === null ? null : total + x);
  for (let i = 0; i < slices; i++) {
    const rb = await withCpu(base.pid, () => load(`${base.label} ${i + 1}/${slices}`, base.url, slice, base.requests));
    b.push(rb.value);
    cpuB = add(cpuB, rb.cpu);
    mainB = add(mainB, rb.main);
    const rs = await withCpu(subject.pid, () => load(`${subject.label} ${i + 1}/${slices}`, subject.url, slice, subject.requests));
    s.push(rs.value);
    cpuS = add(cpuS, rs.cpu);
    mainS = add(mainS, rs.main);
  }
  return { base: pooled(b, cpuB, mainB), subject: pooled(s, cpuS, mainS) };
}

interface Pod {
  readonly validator: string;
  readonly token: string;
  readonly ephemeralKey: JWK;
  grant: string;
}

export async function inBatches<T>(items: readonly T[], width: number, each: (item: T, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map((x, j) => each(x, i + j)));
}

/** A refusal `post` met: its status and Retry-After header, for a caller that retries. */
export class HttpAnswerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfter: string | null,
  ) {
    super(message);
  }
}

export async function post(url: string, path: string, headers: Record<string, string>, body: unknown, method = 'POST'): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new HttpAnswerError(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`, res.status, res.headers.get('retry-after'));
  return json;
}

/** Import `count` validators through the API, each with one slot and one pod that has fetched its first grant. */
async function population(url: string, home: string, count: number): Promise<Pod[]> {
  const cred = await readOperatorCredential(homeFiles(home).operatorCredential);
  const ids = Array.from({ length: count }, (_, i) => `bench-v${i}`);
  await inBatches(ids, 8, async (id) => {
    const gen = generatedKeyMaterial();
    const files = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const path = `/v1/validators/${id}/key`;
    const res = await operatorFetch(url, cred, 'PUT', path, { format: 'eip2335', publicId: gen.publicId, files, slots: [`local/validators/${id}-0`], serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  });
  const pods: Pod[] = [];
  await inBatches(ids, 8, async (id) => {
    const token = await mintDevPodToken(home, { namespace: 'validators', podName: `${id}-0`, podUid: randomUUID(), ttlSeconds: 3600 });
    const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true });
    const { kty, crv, x } = await exportJWK(publicKey);
    const ephemeralKey = { kty, crv, x } as JWK;
    const first = await post(url, '/v1/grants', { authorization: `Bearer ${token}` }, { validator: id, ephemeralKey });
    pods.push({ validator: id, token, ephemeralKey, grant: String(first.grant) });
  });
  return pods;
}

/** One request template whose headers and body move to the next pod on every send. */
function cycling(path: string, pods: readonly Pod[], body: (p: Pod) => string): LoadRequest[] {
  let next = 0;
  return [
    {
      method: 'POST',
      path,
      setupRequest: (req) => {
        const p = pods[next++ % pods.length]!;
        return { ...req, method: 'POST', path, headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body: body(p) };
      },
    },
  ];
}

export interface BrokerLoadResult {
  readonly grant: LoadFigure;
  readonly renew: LoadFigure;
  /** The crypto-only server under the same requests, measured right before the broker. */
  readonly grantCeiling: LoadFigure;
  readonly renewCeiling: LoadFigure;
  readonly rssMb: number | null;
}

/** The same pods' first grants from the ceiling server, whose renewals verify only grants it signed. */
async function ceilingPods(url: string, pods: readonly Pod[]): Promise<Pod[]> {
  const out: Pod[] = [];
  await inBatches(pods, 8, async (p) => {
    const first = await post(url, '/v1/grants', { authorization: `Bearer ${p.token}` }, { validator: p.validator, ephemeralKey: p.ephemeralKey });
    out.push({ ...p, grant: String(first.grant) });
  });
  return out;
}

/**
 * `beforeLoad` runs just before each load phase with the broker idle: the
 * caller measures that phase's baseline there, so a ratio compares numbers
 * taken seconds apart on a machine whose other load comes and goes.
 */
export async function brokerLoad(opts: {
  validators: number;
  settings: LoadSettings;
  only: ReadonlySet<'grant' | 'renew'>;
  profile: boolean;
  beforeLoad?: (phase: 'grant' | 'renew') => Promise<void>;
}): Promise<Partial<BrokerLoadResult>> {
  const home = await mkdtemp(join(tmpdir(), 'keyhold-bench-'));
  const profileDir = opts.profile ? join(home, 'profile') : null;
  let served: Served | undefined;
  let ceiling: Served | undefined;
  try {
    served = await serveChild('broker-child.ts', { KEYHOLD_HOME: home }, profileDir);
    progress(`broker child ${served.proc.pid} on ${served.url}; importing ${opts.validators} validators`);
    const pods = await population(served.url, home, opts.validators);
    // Started after the broker wrote the dev issuer's keys into the home it reads them from.
    // Profiled too: what the broker spends beyond the ceiling reads off the two profiles side by side.
    ceiling = await serveChild('ceiling-child.ts', { KEYHOLD_HOME: home }, profileDir ? `${profileDir}-ceiling` : null);
    const cPods = await ceilingPods(ceiling.url, pods);
    const grantBody = (p: Pod) => JSON.stringify({ validator: p.validator, ephemeralKey: p.ephemeralKey });
    const renewBody = (p: Pod) => JSON.stringify({ grant: p.grant });
    const out: { -readonly [K in keyof BrokerLoadResult]?: BrokerLoadResult[K] } = {};
    if (opts.only.has('grant')) {
      await opts.beforeLoad?.('grant');
      const rss = rssSampler(served.proc.pid);
      const r = await alternating(
        { label: 'grant ceiling (crypto-only server)', url: ceiling.url, pid: ceiling.proc.pid, requests: cycling('/v1/grants', cPods, grantBody) },
        { label: 'grant load (POST /v1/grants)', url: served.url, pid: served.proc.pid, requests: cycling('/v1/grants', pods, grantBody) },
        opts.settings,
      );
      const max = rss.stop();
      out.grantCeiling = r.base;
      out.grant = r.subject;
      out.rssMb = max === null ? null : round(max, 1);
    }
    if (opts.only.has('renew')) {
      await opts.beforeLoad?.('renew');
      const r = await alternating(
        { label: 'renew ceiling (crypto-only server)', url: ceiling.url, pid: ceiling.proc.pid, requests: cycling('/v1/grants/renew', cPods, renewBody) },
        { label: 'renew load (POST /v1/grants/renew)', url: served.url, pid: served.proc.pid, requests: cycling('/v1/grants/renew', pods, renewBody) },
        opts.settings,
      );
      out.renewCeiling = r.base;
      out.renew = r.subject;
    }
    await ceiling.proc.stop();
    ceiling = undefined;
    await served.proc.stop();
    served = undefined;
    if (profileDir) {
      progress('profiles of the broker child:');
      await summarizeProfile(profileDir);
      progress('profiles of the ceiling child:');
      await summarizeProfile(`${profileDir}-ceiling`);
    }
    return out;
  } finally {
    await ceiling?.proc.stop();
    await served?.proc.stop();
    await rm(home, { recursive: true, force: true });
  }
}

/** Hono's hello world on the same server and the same load settings. */
export async function helloLoad(settings: LoadSettings): Promise<LoadFigure> {
  const served = await serveChild('hello-child.ts', {}, null);
  try {
    return figure(await load('hello load (GET /)', served.url, settings, undefined));
  } finally {
    await served.proc.stop();
  }
}
