// Renewals at fleet size (issue 17): 10,000 validators on one broker, its
// state on SQLite in one run and on DynamoDB (moto) in the other, renewed by
// pods of 1 key (10,000 pods, one grant each) and of 100 keys (100 pods, one
// list renewal each), under the same connections as the other loads.
//
// Which store holds what: the *state* store (designations, ledger, used
// operator token ids) is the one under test, SQLite in KEYHOLD_HOME or
// DynamoDB on moto; the *key* store is the embedded SQLite in both runs, since
// a renewal reads no key (store_calls_per_renew counts 0 key reads).
//
// Each store gets a fresh broker, fresh stores and its own 10,000 validators,
// seeded only through the broker's API, as operators and pods would: every
// key is imported by a signed operator request (PUT /v1/validators/{id}/key),
// every pod fetches its grants (a list fetch for a pod of 100) and releases
// them (POST /v1/grants/release), so the stores hold what production would
// (fleetRuns says how one fleet serves both pod sizes).
//
// Settings that differ from the defaults, and why:
//  - KEYHOLD_READ_REUSE_SECONDS=0: every renewal reads its designation from
//    the state store (by default a read is reused for a grant TTL, and a
//    fleet seeded a moment ago would be renewed from memory, measuring no
//    store at all). This is a broker instance that has not seen the
//    validator lately: a fresh instance, or one of many function instances.
//  - KEYHOLD_GRANT_TTL_SECONDS=3600 (and the outage tolerance with it): seeding
//    takes minutes, longer than the default 120 s grant, and a renewal of an
//    expired grant is refused. A renewal does the same work whatever its TTL.
// The load renews each pod with its own newest grants, as its keeper would.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Request as LoadRequest, Result } from 'autocannon';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { eachBounded } from '../../src/each-bounded';
import { homeFiles, mintDevPodToken, readOperatorCredential } from '../../src/identity/dev-credentials';
import { createStateTable } from '../support/dynamodb-table';
import { motoAvailable, motoCredentials, motoRegion, startPatchedMoto, type Moto } from '../support/moto-server';
import { operatorFetch } from '../support/operator-requests';
import { generatedKeyMaterial, testGenesisRoot } from '../support/fixtures';
import { benchDir, rssMb } from './children';
import { HttpAnswerError, load, post, serveChild, withCpu, type LoadSettings, type Served } from './http-load';
import { progress, round, unavailable, type Figures } from './report';
import { RenewTotals, tallyRenewAnswer } from './renew-tally';

export type FleetStore = 'sqlite' | 'dynamodb';
export const fleetStores: readonly FleetStore[] = ['sqlite', 'dynamodb'];

/** The default grant TTL: keepers renew every third of it, so a fleet needs validators / 40 s renewals. */
const productionGrantTtlSeconds = 120;

interface FleetPod {
  readonly name: string;
  readonly validators: readonly string[];
  token: string;
  /** The pod's newest grant per validator, in the order of `validators`. */
  readonly grants: string[];
}

export interface FleetRun {
  readonly store: FleetStore;
  readonly keysPerPod: number;
  readonly validators: number;
  readonly importSeconds: number;
  readonly fetchSeconds: number;
  /** Validator renewals per second (a list of 100 counts 100). */
  readonly renewedPerSecond: number;
  readonly requestP50Ms: number;
  readonly requestP99Ms: number;
  readonly requests: number;
  readonly renewed: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly cpuMsPerRenewal: number | null;
  readonly brokerRssMb: number | null;
  readonly motoRssMb: number | null;
  readonly benchRssMb: number;
}

/** Progress every `every` items, with the rate so far. */
function counter(label: string, total: number, every: number): () => void {
  const started = performance.now();
  let done = 0;
  return () => {
    done += 1;
    if (done % every === 0 || done === total) {
      const s = (performance.now() - started) / 1000;
      progress(`${label}: ${done}/${total} in ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s; bench rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB)`);
    }
  };
}

/**
 * What a busy store refused (503, or `state_store_unavailable` in a list
 * answer) is tried again, up to this many tries in all, a second longer
 * apart each time or after the answer's Retry-After if that is longer, as an
 * operator's script, a keeper or an init container would; each retry is
 * counted and printed. moto serves one request at a time while it works on a
 * large one (a checkpoint's read of every chain head), so a request there
 * meets its 2 s store timeout now and then, and five in a row open the
 * broker's circuit breaker for 10 s (src/stores/resilience.ts): the broker
 * answers Retry-After: 5, and a client that retried sooner than that, three
 * times within 6 s, gave up while the breaker was still open.
 */
const busyTries = 4;

/** The store was busy: `retryBusy` tries again, or on the last try passes this on. */
class Busy extends Error {
  constructor(
    message: string,
    /** The answer's Retry-After, seconds. */
    readonly retryAfter = 0,
  ) {
    super(message);
  }
}

/** A Retry-After header or field as seconds (0 when absent or not a number). */
const seconds = (v: unknown): number => (Number.isFinite(Number(v)) ? Math.max(0, Number(v)) : 0);

/** `work`, tried again while it throws Busy; `last` tells it that this try is the last. */
async function retryBusy<T>(work: (last: boolean) => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt >= busyTries);
    } catch (e) {
      if (!(e instanceof Busy) || attempt >= busyTries) throw e;
      onRetry();
      await new Promise((r) => setTimeout(r, Math.max(1000 * attempt, 1000 * e.retryAfter)));
    }
  }
}

/** `post`, with a 503 thrown as Busy. */
const postOrBusy = (...args: Parameters<typeof post>) =>
  post(...args).catch((e: unknown) => {
    throw e instanceof HttpAnswerError && e.status === 503 ? new Busy(e.message, seconds(e.retryAfter)) : e;
  });

/** An import the broker refused while the fleet was seeded; the message says after how many. */
export class SeedError extends Error {}

async function importFleet(url: string, home: string, pods: readonly FleetPod[]): Promise<void> {
  const cred = await readOperatorCredential(homeFiles(home).operatorCredential);
  const all = pods.flatMap((p) => p.validators.map((id) => ({ id, slot: `local/validators/${p.name}-0` })));
  const tick = counter('fleet import (PUT /v1/validators/{id}/key)', all.length, 1000);
  let imported = 0;
  let retried = 0;
  let failed: SeedError | null = null;
  // Four in flight: each import checks an EIP-2335 keystore (scrypt, in a worker), which is most of its cost.
  await eachBounded(all, 4, async ({ id, slot }) => {
    if (failed) return;
    const gen = generatedKeyMaterial();
    const files = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const path = `/v1/validators/${id}/key`;
    // An import is idempotent (the same key, slots and root again), so a busy store's 503 may be retried.
    const res = await retryBusy(
      async (last) => {
        const r = await operatorFetch(url, cred, 'PUT', path, { format: 'eip2335', publicId: gen.publicId, files, slots: [slot], serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
        if (r.status === 503 && !last) throw new Busy(path, seconds(r.headers.get('retry-after')));
        return r;
      },
      () => (retried += 1),
    );
    if (res.ok) {
      imported += 1;
      tick();
      return;
    }
    failed ??= new SeedError(`PUT ${path}: ${res.status} ${await res.text()} after ${imported} imports (${retried} retried)`);
  });
  if (failed) throw failed;
  progress(`fleet import: ${imported} imported, ${retried} retried after a 503`);
}

async function ephemeralKey(): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true });
  const { kty, crv, x } = await exportJWK(publicKey);
  return { kty, crv, x } as JWK;
}

/** Each pod's first grants: one fetch for a pod of one key, one list fetch for a larger pod. */
async function fetchFleet(url: string, home: string, pods: FleetPod[]): Promise<void> {
  const tick = counter('fleet fetch (POST /v1/grants)', pods.length, pods.length >= 1000 ? 1000 : 10);
  let fetchRetries = 0;
  // One pod of many keys at a time: the broker already works on 4 of its validators at once, and moto serves one transaction at a time.
  await eachBounded(pods, pods[0]!.validators.length === 1 ? 16 : 1, async (p) => {
    p.token = await mintDevPodToken(home, { namespace: 'validators', podName: `${p.name}-0`, podUid: randomUUID(), ttlSeconds: 3600 });
    const auth = { authorization: `Bearer ${p.token}` };
    // What the store refused for being busy is fetched again by the same pod, as its init container would.
    const grants = new Map<string, string>();
    await retryBusy(
      async (last) => {
        const wanted = p.validators.filter((v) => !grants.has(v));
        if (p.validators.length === 1) {
          grants.set(wanted[0]!, String((await postOrBusy(url, '/v1/grants', auth, { validator: wanted[0], ephemeralKey: await ephemeralKey() })).grant));
          return;
        }
        const answer = await postOrBusy(url, '/v1/grants', auth, { validators: wanted, ephemeralKey: await ephemeralKey() });
        const results = answer.results as { outcome: string; validator: string; grant?: string; code?: string; retryAfter?: number }[];
        let retryAfter = 0;
        results.forEach((r, i) => {
          if (r.validator !== wanted[i]) throw new Error(`pod ${p.name}: answer ${i} is ${r.validator}, not ${wanted[i]}`);
          if (r.outcome === 'issued' && r.grant) grants.set(r.validator, r.grant);
          else if (r.code !== 'state_store_unavailable' || last) throw new Error(`pod ${p.name}: ${r.validator} not issued (${r.code ?? r.outcome})`);
          else retryAfter = Math.max(retryAfter, seconds(r.retryAfter));
        });
        if (grants.size < p.validators.length) throw new Busy(`pod ${p.name}`, retryAfter);
      },
      () => (fetchRetries += 1),
    );
    p.grants.push(...p.validators.map((v) => grants.get(v)!));
    tick();
  });
  progress(`fleet fetch: ${pods.length} pods, ${fetchRetries} retried after the store was busy`);
}

/**
 * One request template that renews the next pod's grants on every send and
 * keeps the new ones. With one request in flight per connection, autocannon
 * hands onResponse the context its setupRequest filled for that request.
 */
function renewals(pods: readonly FleetPod[], totals: () => RenewTotals): LoadRequest[] {
  const path = '/v1/grants/renew';
  const list = pods[0]!.validators.length > 1;
  let next = 0;
  return [
    {
      method: 'POST',
      path,
      setupRequest: (req, context) => {
        const i = next++ % pods.length;
        context['pod'] = i;
        const p = pods[i]!;
        const body = JSON.stringify(list ? { grants: p.grants } : { grant: p.grants[0] });
        return { ...req, method: 'POST', path, headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body };
      },
      onResponse: (status, body, context) => {
        const p = pods[context['pod'] as number]!;
        const a = tallyRenewAnswer(status, body, p.grants.length, list);
        totals().add(a);
        a.grants.forEach((g, j) => {
          if (g !== null) p.grants[j] = g;
        });
      },
    },
  ];
}

async function motoFor(store: FleetStore): Promise<{ moto: Moto | null; env: Record<string, string> }> {
  if (store === 'sqlite') return { moto: null, env: {} };
  // moto with transactions whose cost does not grow with the table: why in moto-fleet.py.
  const moto = await startPatchedMoto(join(benchDir, 'moto-fleet.py'));
  const table = 'keyhold-fleet';
  const admin = new DynamoDBClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
  try {
    await admin.send(createStateTable(table));
  } finally {
    admin.destroy();
  }
  return {
    moto,
    env: {
      KEYHOLD_STATE_STORE: 'dynamodb',
      KEYHOLD_DYNAMODB_TABLE: table,
      KEYHOLD_DYNAMODB_ENDPOINT: moto.endpoint,
      AWS_REGION: motoRegion,
      AWS_ACCESS_KEY_ID: motoCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: motoCredentials.secretAccessKey,
    },
  };
}

/** Release every grant of every pod, as each keeper does on shutdown, so the next pod instance of the slot starts at once. */
async function releaseFleet(url: string, pods: readonly FleetPod[]): Promise<void> {
  const all = pods.flatMap((p) => p.grants.map((grant) => ({ token: p.token, grant })));
  const tick = counter('fleet release (POST /v1/grants/release)', all.length, 1000);
  let retried = 0;
  await eachBounded(all, 16, async ({ token, grant }) => {
    // A 503 is retried, as a keeper retries its release while the store is busy.
    let tries = 0;
    const r = await retryBusy(
      () => {
        tries += 1;
        return postOrBusy(url, '/v1/grants/release', { authorization: `Bearer ${token}` }, { grant, stop: 'proven' });
      },
      () => (retried += 1),
    );
    // A try whose 503 came after its commit had landed (the store answered late) leaves the retry to find it released, as a keeper's would.
    if (r.outcome !== 'released' && !(tries > 1 && r.outcome === 'already_released')) throw new Error(`release: ${JSON.stringify(r)}`);
    tick();
  });
  progress(`fleet release: ${all.length} released, ${retried} retried after a 503`);
}

/** The renewal load over `pods`, after a warm-up, with its figures. */
async function renewLoad(served: Served, store: FleetStore, pods: readonly FleetPod[], settings: LoadSettings, seeded: { importSeconds: number; fetchSeconds: number }, rss: { broker: () => number | null; moto: () => number | null; bench: () => number }): Promise<FleetRun> {
  const keysPerPod = pods[0]!.validators.length;
  const label = `${store}, ${keysPerPod} key${keysPerPod === 1 ? '' : 's'} per pod`;
  let totals = new RenewTotals();
  const requests = renewals(pods, () => totals);
  const once = { ...settings, warmupSeconds: 0 };
  if (settings.warmupSeconds > 0) await load(`fleet renew ${label} warm-up`, served.url, { ...once, seconds: settings.warmupSeconds }, requests);
  totals = new RenewTotals();
  const { value: r, cpu } = await withCpu(served.proc.pid, (): Promise<Result> => load(`fleet renew ${label}`, served.url, once, requests));
  totals.addUnanswered(r.errors + r.timeouts, keysPerPod);
  const run: FleetRun = {
    store,
    keysPerPod,
    validators: pods.length * keysPerPod,
    importSeconds: round(seeded.importSeconds, 1),
    fetchSeconds: round(seeded.fetchSeconds, 1),
    renewedPerSecond: round(totals.renewed / r.duration, 0),
    requestP50Ms: r.latency.p50,
    requestP99Ms: r.latency.p99,
    requests: totals.requests,
    renewed: totals.renewed,
    refused: { ...totals.refused },
    cpuMsPerRenewal: cpu === null || totals.renewed === 0 ? null : round(cpu / totals.renewed, 3),
    brokerRssMb: rss.broker(),
    motoRssMb: rss.moto(),
    benchRssMb: rss.bench(),
  };
  progress(`fleet ${label}: ${run.renewedPerSecond} renewals/s, request p50 ${run.requestP50Ms} ms p99 ${run.requestP99Ms} ms, ${run.renewed} renewed in ${run.requests} requests, refused ${JSON.stringify(run.refused)}, ${run.cpuMsPerRenewal} broker CPU ms per renewal; max rss so far broker ${run.brokerRssMb} MB, moto ${run.motoRssMb ?? '-'} MB, bench ${run.benchRssMb} MB`);
  const wrong = totals.notFromLoad();
  if (Object.keys(wrong).length > 0) throw new Error(`fleet ${label}: renewals refused for reasons other than load: ${JSON.stringify(wrong)}`);
  if (totals.renewed === 0) throw new Error(`fleet ${label}: no renewal succeeded (${JSON.stringify(totals.refused)})`);
  return run;
}

/** Max-so-far RSS of a process, sampled every second. */
function rssWatch(pid: number | undefined): { max: () => number | null; stop: () => void } {
  let max: number | null = null;
  const read = () => {
    const v = pid === undefined ? null : rssMb(pid);
    if (v !== null && (max === null || v > max)) max = v;
  };
  read();
  const t = setInterval(read, 1000);
  return { max: () => (max === null ? null : round(max, 0)), stop: () => clearInterval(t) };
}

/**
 * One fleet of `validators` on one broker whose state is on `store`, renewed
 * first by pods of 100 keys, then by pods of 1. Validators are imported 100
 * to a slot (a validator client's pod). For pods of one key, every pod of 100
 * releases its grants (as its keeper would on shutdown) and each validator is
 * then fetched by a pod instance of its own, a new pod UID in that slot: the
 * broker decides and renews each validator on its own, so this is the request
 * mix of 10,000 single-key pods (10,000 tokens, one grant each) without
 * importing a second fleet, which costs most of the run (README).
 */
export async function fleetRuns(store: FleetStore, validators: number, settings: LoadSettings): Promise<FleetRun[]> {
  const big = 100;
  if (validators % big !== 0) throw new TypeError(`${validators} validators do not fill pods of ${big}`);
  const home = await mkdtemp(join(tmpdir(), 'keyhold-fleet-'));
  let served: Served | undefined;
  let moto: Moto | null = null;
  const watches: { stop: () => void }[] = [];
  try {
    const m = await motoFor(store);
    moto = m.moto;
    const env = {
      KEYHOLD_HOME: home,
      KEYHOLD_READ_REUSE_SECONDS: '0',
      KEYHOLD_GRANT_TTL_SECONDS: '3600',
      KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '3600',
      ...m.env,
    };
    served = await serveChild('broker-child.ts', env, null, 3_600_000);
    const brokerRss = rssWatch(served.proc.pid);
    const motoRss = rssWatch(moto?.pid);
    watches.push(brokerRss, motoRss);
    let benchRss = 0;
    const benchSampler = setInterval(() => (benchRss = Math.max(benchRss, process.memoryUsage().rss / 2 ** 20)), 1000);
    watches.push({ stop: () => clearInterval(benchSampler) });
    const rss = { broker: brokerRss.max, moto: () => (moto ? motoRss.max() : null), bench: () => round(benchRss, 0) };
    progress(`fleet ${store}: broker child ${served.proc.pid} on ${served.url}${moto ? ` (state on moto ${moto.endpoint}, pid ${moto.pid})` : ''}; seeding ${validators} validators`);
    const pods: FleetPod[] = Array.from({ length: validators / big }, (_, j) => ({
      name: `fleet-p${j}`,
      validators: Array.from({ length: big }, (_, k) => `fleet-v${j * big + k}`),
      token: '',
      grants: [],
    }));
    let t = performance.now();
    await importFleet(served.url, home, pods);
    const importSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    await fetchFleet(served.url, home, pods);
    let fetchSeconds = (performance.now() - t) / 1000;
    progress(`fleet ${store}: seeded in ${(importSeconds + fetchSeconds).toFixed(0)} s (import ${importSeconds.toFixed(0)} s, fetch ${fetchSeconds.toFixed(0)} s); broker rss ${rssMb(served.proc.pid)?.toFixed(0)} MB${moto?.pid === undefined ? '' : `, moto rss ${rssMb(moto.pid)?.toFixed(0)} MB`}`);
    const runs = [await renewLoad(served, store, pods, settings, { importSeconds, fetchSeconds }, rss)];

    t = performance.now();
    await releaseFleet(served.url, pods);
    const singles: FleetPod[] = pods.flatMap((p) => p.validators.map((v) => ({ name: p.name, validators: [v], token: '', grants: [] })));
    await fetchFleet(served.url, home, singles);
    fetchSeconds = (performance.now() - t) / 1000;
    progress(`fleet ${store}: released and fetched again by ${singles.length} pods of one key in ${fetchSeconds.toFixed(0)} s`);
    runs.push(await renewLoad(served, store, singles, settings, { importSeconds, fetchSeconds }, rss));
    return runs;
  } finally {
    for (const w of watches) w.stop();
    await served?.proc.stop();
    await moto?.stop();
    await rm(home, { recursive: true, force: true });
  }
}

const perStore = (runs: readonly FleetRun[], size: number, pick: (r: FleetRun) => number | null): Record<string, number | null> =>
  Object.fromEntries(fleetStores.map((s) => [s, runs.find((r) => r.store === s && r.keysPerPod === size) ?? null]).map(([s, r]) => [s, r ? pick(r as FleetRun) : null]));

/**
 * The figures, per store. Like cost_per_validator_month, the bare name is for
 * pods of 100 keys (what operators run) and `_one_key_per_pod` for pods of one.
 */
export async function fleetRenew(validators: number, settings: LoadSettings, stores: readonly FleetStore[] = fleetStores): Promise<Figures> {
  const runs: FleetRun[] = [];
  // DynamoDB first: the longer run, on moto, and the one more likely to stop early.
  for (const store of [...fleetStores].reverse()) {
    if (!stores.includes(store)) {
      unavailable(`renew_fleet_per_s.${store}`, 'not run: --fleet-stores left it out');
      continue;
    }
    if (store === 'dynamodb' && !motoAvailable()) {
      unavailable(`renew_fleet_per_s.${store}`, 'moto_server is not on PATH');
      continue;
    }
    try {
      runs.push(...(await fleetRuns(store, validators, settings)));
    } catch (e) {
      // Seeding 10,000 validators through the API on moto does not finish
      // (why: README, "Renewals at fleet size"); the figure stays null with
      // how far it got, never a smaller fleet in its place.
      if (!(e instanceof SeedError) || store !== 'dynamodb') throw e;
      unavailable(`renew_fleet_per_s.${store}`, `the fleet could not be seeded through the API: ${e.message}`);
    }
  }
  const figures: Figures = { renew_fleet_validators: validators, renew_fleet_needed_per_s: round(validators / (productionGrantTtlSeconds / 3), 0) };
  for (const [suffix, size] of [['', 100], ['_one_key_per_pod', 1]] as const) {
    figures[`renew_fleet_per_s${suffix}`] = perStore(runs, size, (r) => r.renewedPerSecond);
    figures[`renew_fleet_p99_ms${suffix}`] = perStore(runs, size, (r) => r.requestP99Ms);
    figures[`renew_fleet_cpu_ms_per_renewal${suffix}`] = perStore(runs, size, (r) => r.cpuMsPerRenewal);
    figures[`renew_fleet_refused${suffix}`] = perStore(runs, size, (r) => Object.values(r.refused).reduce((a, n) => a + n, 0));
    figures[`renew_fleet_seed_s${suffix}`] = perStore(runs, size, (r) => round(r.importSeconds + r.fetchSeconds, 0));
  }
  figures['renew_fleet_rss_mb'] = {
    broker: Math.max(...runs.map((r) => r.brokerRssMb ?? 0)),
    moto: runs.some((r) => r.motoRssMb !== null) ? Math.max(...runs.map((r) => r.motoRssMb ?? 0)) : null,
    bench: Math.max(...runs.map((r) => r.benchRssMb)),
  };
  return figures;
}
