// One chaos run: start the world, break it at random for a bounded time (the
// seed decides every choice, so a failing seed replays the same schedule of
// faults; process timing under load still varies), heal it, wait for the
// designated slot to hold again, then check what the stand-ins and the
// ledger tell.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main';
import { epochsRise, handoffs, ledgerTells, longestUnavailableMs, overlaps, watermarksHold, type LedgerView, type Violation } from './checks';
import { httpProxy, type ChaosProxy } from './proxy';
import { landingBoundFor, startStore, type StoreKind } from './stores';
import { BrokerProcess, ChaosPod, importKey, Journal, operatorCall, takeoverWaitOf, type ChaosTiming } from './world';

export interface RunOptions {
  readonly seed: number;
  readonly store: StoreKind;
  /** How long faults are injected, ms. */
  readonly faultMs?: number;
  readonly brokers?: number;
  readonly pods?: number;
  /** The control: brokers run without the takeover wait (KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT). */
  readonly unsafeNoTakeoverWait?: boolean;
  /** Override how often each fault is picked (0: never); the control run promotes often. */
  readonly weights?: Partial<Record<ActionName, number>>;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
}

export type ActionName =
  | 'kill_broker'
  | 'pause_broker'
  | 'kill_keeper'
  | 'pause_keeper'
  | 'kill_signer'
  | 'pause_signer'
  | 'replace_pod'
  | 'latency'
  | 'drop'
  | 'reset'
  | 'promote'
  | 'isolate_and_promote';

export interface RunResult {
  readonly seed: number;
  readonly store: StoreKind;
  readonly faults: Readonly<Record<string, number>>;
  readonly handoffs: number;
  readonly longestUnavailableMs: number;
  /** From the end of the faults to the designated slot holding again; null: not within the bound. */
  readonly settledMs: number | null;
  readonly settleBoundMs: number;
  readonly violations: readonly Violation[];
  readonly durationMs: number;
  readonly holdings: number;
  readonly signings: number;
}

/** mulberry32: small, fast and good enough to pick faults from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Store-side bound the proxies enforce (see stores.ts), ms. */
const landingMs = 1000;

export function timingFor(store: StoreKind): ChaosTiming {
  // C = the broker's send window (1 s) + the store-side landing bound + the
  // skew where the store's clock refuses; Vault counts from landing times,
  // so there C is the send window alone.
  const landing = landingBoundFor(store, landingMs);
  const commitDeadlineS = 1 + (landing === null ? 1 : landing / 1000 + 1);
  return { grantTtlS: 6, toleranceS: 6, skewS: 1, commitDeadlineS, landingMs: landing, renewMarginS: 2 };
}

export async function chaosRun(o: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const rand = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const say = o.progress ?? (() => undefined);
  const timing = timingFor(o.store);
  const j = new Journal();
  const faultMs = o.faultMs ?? 20_000;
  const skewMs = timing.skewS * 1000;
  let skewed = 0;
  // Every process starts on a clock skewed within the bound (src/test-mode.ts refuses more).
  const offset = () => {
    const off = between(-skewMs / 2, skewMs / 2);
    if (off !== 0) skewed++;
    return off;
  };
  const validator = 'chaos-v1';

  const store = await startStore(o.store, landingMs);
  const home = await mkdtemp(join(tmpdir(), 'keyhold-chaos-home-'));
  const brokerEnv: Record<string, string> = {
    ...store.brokerEnv,
    KEYHOLD_HOME: home,
    KEYHOLD_TEST_MODE: '1',
    KEYHOLD_GRANT_TTL_SECONDS: String(timing.grantTtlS),
    KEYHOLD_OUTAGE_TOLERANCE_SECONDS: String(timing.toleranceS),
    KEYHOLD_MAX_CLOCK_SKEW_SECONDS: String(timing.skewS),
    KEYHOLD_COMMIT_DEADLINE_SECONDS: String(timing.commitDeadlineS),
    KEYHOLD_CHECKPOINT_EVERY_SECONDS: '5',
    KEYHOLD_LOG_LEVEL: 'error',
    // A standby asks again after 1 s, like the other shortened timings.
    KEYHOLD_STANDBY_RETRY_SECONDS: '1',
    // The control also reads afresh for every standby, so the promoted pod hears of its promotion at once.
    ...(o.unsafeNoTakeoverWait ? { KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT: '1', KEYHOLD_READ_REUSE_SECONDS: '0' } : {}),
  };
  const brokers = Array.from({ length: o.brokers ?? 2 }, (_, i) => new BrokerProcess(`broker-${i}`, brokerEnv));
  const pods: ChaosPod[] = [];
  // Each pod reaches the brokers through a link of its own (round robin over the live ones), so one pod can be cut off alone.
  const links: ChaosProxy[] = [];
  const undo = new Set<() => void>();
  const restarts = new Set<Promise<unknown>>();
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => {
      undo.delete(run);
      f();
    }, ms);
    const run = () => {
      clearTimeout(t);
      f();
    };
    undo.add(run);
  };
  const startBroker = (b: BrokerProcess) => {
    const p = b.start(offset()).catch((e: unknown) => j.note(`${b.name} failed to start: ${(e as Error).message}`));
    restarts.add(p);
    void p.finally(() => restarts.delete(p));
    return p;
  };

  try {
    // The first broker creates the shared home (signing keys, dev issuer, operator credential).
    await brokers[0]!.start(offset());
    await Promise.all(brokers.slice(1).map((b) => b.start(offset())));
    const slots = Array.from({ length: o.pods ?? 2 }, (_, i) => `local/validators/chaos-${i}`);
    const publicId = await importKey(home, brokers, validator, slots);
    for (let i = 0; i < slots.length; i++) {
      const link = await httpProxy({ upstreams: () => brokers.filter((b) => b.alive).map((b) => b.port) });
      links.push(link);
      pods.push(
        await ChaosPod.create(`chaos-${i}`, {
          journal: j,
          home,
          validator,
          publicId,
          brokerUrl: link.url,
          timing,
          offsetMs: offset,
        }),
      );
    }
    let designated = slots[0]!;
    for (const p of pods) await p.boot();
    const firstBy = Date.now() + 60_000;
    while (!j.intervals.length && Date.now() < firstBy) await sleep(100);
    if (!j.intervals.length) throw new Error(`no pod ever held the key: ${j.notes.slice(-20).join('\n')}`);
    say(`seed ${o.seed} ${o.store}: first holder at ${j.now()} ms; faults for ${faultMs / 1000} s`);

    const target = (): [string, ChaosProxy] => (rand() < 0.5 ? ['store', store.proxy] : ['broker', pick(links)]);
    const promote = async (slot: string, kind: string) => {
      const r = await operatorCall(home, brokers, 'POST', `/v1/validators/${validator}/promote`, { slot, reason: 'chaos' });
      if (r && r.status < 300) {
        designated = slot;
        j.fault(kind);
        j.note(`promoted to ${slot}`);
      }
    };
    const named: [ActionName, number, () => Promise<void> | void][] = [
      ['kill_broker', 2, () => {
        const b = pick(brokers.filter((x) => x.alive));
        if (!b) return;
        j.fault('kill_broker');
        void b.kill().then(() => later(between(200, 2000), () => void startBroker(b)));
      }],
      ['pause_broker', 2, () => {
        const b = pick(brokers.filter((x) => x.alive && !x.paused));
        if (!b) return;
        j.fault('pause_broker');
        b.pause();
        later(between(300, 4000), () => b.resume());
      }],
      ['kill_keeper', 2, () => {
        if (pick(pods).kill('keeper')) j.fault('kill_keeper');
      }],
      ['pause_keeper', 1, () => {
        // Within the renew margin: a keeper frozen for longer than that is a
        // stalled pod the signer would outlive, which no broker can prevent.
        const p = pick(pods);
        if (!p.pause('keeper')) return;
        j.fault('pause_keeper');
        later(between(100, (timing.renewMarginS - 0.8) * 1000), () => p.resume('keeper'));
      }],
      ['kill_signer', 2, () => {
        if (pick(pods).kill('signer')) j.fault('kill_signer');
      }],
      ['pause_signer', 1, () => {
        const p = pick(pods);
        if (!p.pause('signer')) return;
        j.fault('pause_signer');
        later(between(200, 3000), () => p.resume('signer'));
      }],
      ['replace_pod', 0.5, () => {
        j.fault('replace_pod');
        const p = pick(pods);
        const r = p.replace();
        restarts.add(r);
        void r.finally(() => restarts.delete(r));
      }],
      ['latency', 2, () => {
        const [which, proxy] = target();
        // Up to and past the commit deadline.
        proxy.faults.latencyMs = between(0, timing.commitDeadlineS * 1500);
        j.fault(`${which}_latency`);
        later(between(500, 3000), () => (proxy.faults.latencyMs = 0));
      }],
      ['drop', 1, () => {
        const [which, proxy] = target();
        if (proxy.faults.dropping) return;
        proxy.faults.dropping = true;
        j.fault(`${which}_drop`);
        later(between(300, 3000), () => proxy.endDrop());
      }],
      ['reset', 1, () => {
        const [which, proxy] = target();
        proxy.reset();
        j.fault(`${which}_reset`);
      }],
      ['promote', 2, () => promote(pick(slots), 'promote')],
      ['isolate_and_promote', 1, async () => {
        // The holder cut off from every broker, and its slot promoted away:
        // it cannot hear it was fenced and holds until its own deadline,
        // which the takeover wait outlasts.
        const open = j.intervals.find((i) => i.end === null);
        const holder = pods.find((p) => p.uid === open?.holder);
        const other = slots.filter((sl) => sl !== holder?.slot);
        if (!holder || other.length === 0) return;
        const link = links[pods.indexOf(holder)]!;
        if (link.faults.dropping) return;
        link.faults.dropping = true;
        later(between(2000, 5000), () => link.endDrop());
        await promote(pick(other), 'isolate_and_promote');
      }],
    ];
    const actions = named.map(([name, w, f]) => [name === 'pause_broker' && !store.pauseBrokers ? 0 : (o.weights?.[name] ?? w), f] as const).filter(([w]) => w > 0);
    const total = actions.reduce((s, [w]) => s + w, 0);
    const faultsEnd = Date.now() + faultMs;
    while (Date.now() < faultsEnd) {
      let r = rand() * total;
      const action = actions.find(([w]) => (r -= w) < 0)?.[1] ?? actions[0]![1];
      await action();
      await sleep(between(200, 1200));
    }

    // Heal: every fault undone, every process back.
    for (const f of [...undo]) f();
    undo.clear();
    for (const p of [store.proxy, ...links]) {
      p.faults.latencyMs = 0;
      p.endDrop();
    }
    await Promise.all([...restarts]);
    for (const b of brokers) if (!b.alive) await startBroker(b);
    for (const p of pods) {
      p.resumeAll();
      if (p.stopped) await p.boot();
    }
    const healedAt = j.now();
    const settleBoundMs = takeoverWaitOf(timing) + timing.grantTtlS * 1000 + 10_000;
    say(`seed ${o.seed} ${o.store}: healed at ${healedAt} ms; waiting up to ${settleBoundMs / 1000} s for ${designated}`);
    const holder = pods.find((p) => p.slot === designated)!;
    let settledMs: number | null = null;
    const settleBy = Date.now() + settleBoundMs;
    while (Date.now() < settleBy) {
      const open = j.intervals.filter((i) => i.end === null);
      if (open.length === 1 && open[0]!.holder === holder.uid) {
        settledMs = j.now() - healedAt;
        break;
      }
      await sleep(100);
    }
    await sleep(1000);

    const ledger = await readLedger(home, brokers, validator);
    const endOfRun = j.now();
    const violations: Violation[] = [
      ...overlaps(j.intervals, endOfRun),
      ...epochsRise(j.intervals),
      ...watermarksHold(j.intervals, j.signings),
      ...ledgerTells(j.intervals, ledger),
      ...(settledMs === null ? [{ kind: 'not_live' as const, detail: `${designated} did not hold within ${settleBoundMs} ms of the faults stopping` }] : []),
    ];
    if (violations.length) say(`seed ${o.seed} ${o.store}: ${violations.length} violations; last events:\n  ${j.notes.slice(-40).join('\n  ')}`);
    return {
      seed: o.seed,
      store: o.store,
      faults: { ...j.faults, ...(skewed ? { clock_skew: skewed } : {}) },
      handoffs: handoffs(j.intervals),
      longestUnavailableMs: longestUnavailableMs(j.intervals, validator, endOfRun),
      settledMs,
      settleBoundMs,
      violations,
      durationMs: Date.now() - started,
      holdings: j.intervals.length,
      signings: j.signings.length,
    };
  } finally {
    for (const f of [...undo]) f();
    await Promise.allSettled([...restarts]);
    await Promise.allSettled(pods.map((p) => p.dispose()));
    await Promise.allSettled(brokers.map((b) => b.kill()));
    await Promise.allSettled(links.map((l) => l.close()));
    await store.close();
    await rm(home, { recursive: true, force: true });
  }
}

/** `keyhold audit verify` and `keyhold audit holders`, as an operator runs them, against any live broker. */
async function readLedger(home: string, brokers: readonly BrokerProcess[], validator: string): Promise<LedgerView> {
  // A broker whose breaker opened during the faults answers 503 for a while: try the others, then again.
  const transient = /unavailable|retry|ECONNREFUSED|ECONNRESET|fetch failed|timed? ?out|unreachable/i;
  const cli = async (args: string[]) => {
    let last = { code: -1, stdout: '', stderr: 'no broker answered' };
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(1000)) {
      for (const b of brokers.filter((x) => x.alive && !x.paused)) {
        let stdout = '';
        let stderr = '';
        const code = await runCli(args, {
          env: { KEYHOLD_URL: `http://127.0.0.1:${b.port}`, KEYHOLD_OPERATOR_CREDENTIAL: join(home, 'operator.json'), KEYHOLD_HOME: home },
          stdout: (s) => (stdout += s),
          stderr: (s) => (stderr += s),
          confirm: null,
        });
        last = { code, stdout, stderr };
        if (code === 0 || !transient.test(stderr)) return last;
      }
    }
    return last;
  };
  const verify = await cli(['audit', 'verify']);
  const holders = await cli(['audit', 'holders', '--validator', validator, '--json']);
  let epochs: number[] = [];
  try {
    const rows = JSON.parse(holders.stdout) as { epoch: number }[];
    epochs = rows.map((r) => Number(r.epoch));
  } catch {
    // no holders list: every epoch is then missing, which the checks report
  }
  return { verified: verify.code === 0, problem: `${verify.stdout}${verify.stderr}`.trim().slice(0, 300), epochs: { [validator]: epochs } };
}
