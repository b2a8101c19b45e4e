// The processes of one chaos run: a state store behind a fault proxy, N
// broker processes (src/server.ts) sharing it and one home (signing keys, dev
// issuer, the SQLite key store), a fault proxy in front of the brokers, and M
// pods of real `keyhold-hook` fetch and keeper processes with a stand-in
// signer. Every report a stand-in makes is timestamped here, on this
// process's monotonic clock: the one clock every check reads.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mintDevPodToken, readOperatorCredential, signOperatorRequest } from '../../src/identity/dev-credentials';
import { exited, until } from '../e2e/support/cluster';
import { generatedKeyMaterial, testGenesisRoot } from '../support/fixtures';
import type { Interval, Signing } from './checks';

const root = resolve(import.meta.dirname, '../..');
const hookBin = join(root, 'operator-hooks/bin.mjs');
const standInScript = join(import.meta.dirname, 'stand-in.mjs');
const exportScript = join(import.meta.dirname, 'export.mjs');

/** Shortened timings (test mode allows grants under 15 s) so a run takes tens of seconds. */
export interface ChaosTiming {
  readonly grantTtlS: number;
  readonly toleranceS: number;
  readonly skewS: number;
  readonly commitDeadlineS: number;
  /** The store-side bound the store proxy enforces (null: the store counts from landing, as Vault does). */
  readonly landingMs: number | null;
  readonly renewMarginS: number;
}

export const takeoverWaitOf = (t: ChaosTiming): number => (t.commitDeadlineS + t.grantTtlS + t.toleranceS + t.skewS) * 1000;

const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYHOLD_')));

export class Journal {
  readonly t0 = performance.now();
  readonly intervals: Interval[] = [];
  readonly signings: Signing[] = [];
  readonly faults: Record<string, number> = {};
  readonly notes: string[] = [];
  now(): number {
    return Math.round(performance.now() - this.t0);
  }
  fault(kind: string): void {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
  }
  note(s: string): void {
    this.notes.push(`${this.now()} ${s}`);
    if (this.notes.length > 400) this.notes.shift();
  }
}

export class BrokerProcess {
  private child: ChildProcess | null = null;
  port = 0;
  paused = false;
  private readonly log: string[] = [];

  constructor(
    readonly name: string,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(offsetMs: number): Promise<void> {
    const env = { ...cleanEnv(), ...this.env, KEYHOLD_PORT: String(this.port), KEYHOLD_TEST_CLOCK_OFFSET_MS: String(offsetMs) };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.paused = false;
    child.stderr!.on('data', (d: Buffer) => {
      this.log.push(d.toString());
      if (this.log.length > 50) this.log.shift();
    });
    this.port = await new Promise<number>((res, rej) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /keyhold broker listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) res(Number(m[1]));
      });
      child.once('exit', (code) => rej(new Error(`${this.name} exited with ${code}: ${this.log.join('').slice(-1500)}`)));
    });
  }

  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child!.kill('SIGKILL');
    await exited(this.child!);
  }

  pause(): void {
    if (this.alive && !this.paused) this.child!.kill('SIGSTOP');
    this.paused = this.alive;
  }

  resume(): void {
    if (this.alive) this.child!.kill('SIGCONT');
    this.paused = false;
  }
}

/** The operator's side: promotions and the ledger, through any broker that answers. */
export async function operatorCall(home: string, brokers: readonly BrokerProcess[], method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown } | null> {
  const cred = await readOperatorCredential(join(home, 'operator.json'));
  for (const b of brokers.filter((x) => x.alive && !x.paused)) {
    try {
      const url = `http://127.0.0.1:${b.port}`;
      // Each request token is bound to the broker's audience and the exact body (README, Operators).
      const aud = (await (await fetch(`${url}/v1/operator-audience`, { signal: AbortSignal.timeout(5000) })).json()) as { audience: string };
      const text = body === undefined ? undefined : JSON.stringify(body);
      const token = await signOperatorRequest(cred, { method, path, audience: aud.audience, ...(text === undefined ? {} : { body: text }) });
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(text === undefined ? {} : { body: text }),
        signal: AbortSignal.timeout(5000),
      });
      return { status: res.status, json: (await res.json()) as unknown };
    } catch {
      // that broker is down or slow: the next one
    }
  }
  return null;
}

export async function importKey(home: string, brokers: readonly BrokerProcess[], validator: string, slots: string[]): Promise<string> {
  const g = generatedKeyMaterial();
  const body = {
    format: 'eip2335',
    publicId: g.publicId,
    files: { 'keystore.json': Buffer.from(g.keystore).toString('base64'), 'password.txt': Buffer.from(g.password).toString('base64') },
    slots,
    serviceAccounts: ['validator'],
    reason: 'chaos',
    genesisValidatorsRoot: testGenesisRoot,
  };
  // Fresh brokers on a loaded machine can take a while to answer the first write; the import is idempotent.
  let r: Awaited<ReturnType<typeof operatorCall>> = null;
  for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((res) => setTimeout(res, 1000))) {
    r = await operatorCall(home, brokers, 'PUT', `/v1/validators/${validator}/key`, body);
    if (r && r.status < 300) return g.publicId;
    if (r && r.status < 500) break;
  }
  throw new Error(`key import failed: ${JSON.stringify(r)}`);
}

type Part = 'fetch' | 'keeper' | 'signer';

/** One slot's pod. `replace()` is a new pod instance (new UID) in the same slot; its data dir (the signer's database) survives, as a StatefulSet's volume does. */
export class ChaosPod {
  uid = randomUUID();
  stopped = true;
  readonly children: Partial<Record<Part, ChildProcess>> = {};
  private readonly paused = new Set<Part>();
  private generation = 0;
  private replacing = false;
  private fenceTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly podName: string,
    readonly dir: string,
    private readonly o: { journal: Journal; home: string; validator: string; publicId: string; brokerUrl: string; timing: ChaosTiming; offsetMs: () => number },
  ) {}

  static async create(podName: string, o: ChaosPod['o']): Promise<ChaosPod> {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    return new ChaosPod(podName, await mkdtemp(join(base, `keyhold-chaos-${podName}-`)), o);
  }

  get slot(): string {
    return `local/validators/${this.podName}`;
  }
  private get keyDir(): string {
    return join(this.dir, 'keys');
  }
  private get dbFile(): string {
    return join(this.dir, 'signer-db.txt');
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      ...cleanEnv(),
      KEYHOLD_URL: this.o.brokerUrl,
      KEYHOLD_VALIDATOR: this.o.validator,
      KEYHOLD_TOKEN_FILE: join(this.dir, 'token'),
      KEYHOLD_KEY_DIR: this.keyDir,
      KEYHOLD_RETRY_MAX_SECONDS: '1',
      KEYHOLD_HTTP_TIMEOUT_SECONDS: '2',
      KEYHOLD_TEST_MODE: '1',
      KEYHOLD_MAX_CLOCK_SKEW_SECONDS: String(this.o.timing.skewS),
      KEYHOLD_TEST_CLOCK_OFFSET_MS: String(this.o.offsetMs()),
      ...extra,
    };
  }

  private spawnPart(part: Part, gen: number): void {
    if (this.stopped || gen !== this.generation) return;
    const j = this.o.journal;
    const child =
      part === 'signer'
        ? spawn(process.execPath, [standInScript, this.keyDir, join(this.dir, 'signer.pid'), this.dbFile], { stdio: ['ignore', 'pipe', 'ignore'] })
        : spawn(process.execPath, [hookBin, part], { cwd: root, env: this.env(part === 'keeper' ? this.keeperEnv() : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    this.children[part] = child;
    const uid = this.uid;
    let open: Interval | null = null;
    const onLine = (line: string) => {
      if (part === 'keeper') this.watchFence(line, gen);
      if (part !== 'signer') return void j.note(`${this.podName} ${part}: ${line.slice(0, 300)}`);
      const at = j.now();
      const [verb, ...args] = line.split(' ');
      if (verb === 'loading') {
        open = { key: this.o.validator, holder: uid, pod: this.podName, start: at, end: null, epoch: Number(args[0]), predecessor: args[1] ?? 'none', watermark: Number(args[2]) };
        j.intervals.push(open);
      } else if (verb === 'sign') j.signings.push({ key: this.o.validator, holder: uid, at, slot: Number(args[0]) });
    };
    let buf = '';
    const collect = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l) onLine(l);
    };
    child.stdout!.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => {
      // Seen after the fact, so a recorded end is never earlier than the real one.
      if (open) open.end = j.now();
      delete this.children[part];
      this.paused.delete(part);
      if (this.stopped || gen !== this.generation) return;
      // The kubelet's part: an init container that failed runs again; sidecar and main container restart.
      if (part === 'fetch') {
        if (code === 0) {
          this.spawnPart('keeper', gen);
          this.spawnPart('signer', gen);
        } else setTimeout(() => this.spawnPart('fetch', gen), 1000);
      } else setTimeout(() => this.spawnPart(part, gen), part === 'signer' ? 100 : 300);
    });
  }

  /**
   * A fenced keeper stays fenced (operator-hooks/README.md, "Keeper
   * states"): the pod instance is done. Like an operator (or a controller)
   * acting on its state, the harness deletes it once its acknowledgement is
   * through or given up, and the StatefulSet's part, a new instance in the
   * same slot, follows.
   */
  private watchFence(line: string, gen: number): void {
    const done = () => {
      if (this.stopped || gen !== this.generation || this.replacing) return;
      this.replacing = true;
      this.o.journal.note(`${this.podName}: fenced instance deleted and recreated`);
      void this.replace().finally(() => (this.replacing = false));
    };
    if (/keeper: fenced:/.test(line)) this.fenceTimer = setTimeout(done, 8000);
    else if (/keeper: acknowledging the fence:/.test(line) && this.fenceTimer) {
      clearTimeout(this.fenceTimer);
      this.fenceTimer = null;
      setTimeout(done, 200);
    }
  }

  private keeperEnv(): Record<string, string> {
    return {
      KEYHOLD_SIGNER_PIDFILE: join(this.dir, 'signer.pid'),
      KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '1',
      KEYHOLD_RENEW_MARGIN_SECONDS: String(this.o.timing.renewMarginS),
      KEYHOLD_KEEPER_PORT: '0',
      KEYHOLD_RELEASE_TIMEOUT_SECONDS: '5',
      KEYHOLD_PROBE_STATE_FILE: join(this.dir, 'probe.json'),
      KEYHOLD_SLASHING_EXPORT_COMMAND: `${process.execPath} ${exportScript} ${this.dbFile} ${this.o.publicId} ${testGenesisRoot}`,
    };
  }

  /** Init container first, then (on its success) the sidecar and the signer. */
  async boot(): Promise<void> {
    await mkdir(this.keyDir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.dir, 'token'), await mintDevPodToken(this.o.home, { namespace: 'validators', podName: this.podName, podUid: this.uid, ttlSeconds: 3600 }), { mode: 0o600 });
    this.stopped = false;
    this.spawnPart('fetch', ++this.generation);
  }

  running(part: Part): boolean {
    return this.children[part] !== undefined;
  }

  kill(part: Part): boolean {
    const c = this.children[part];
    if (!c) return false;
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    return true;
  }

  pause(part: Part): boolean {
    const c = this.children[part];
    if (!c || this.paused.has(part)) return false;
    c.kill('SIGSTOP');
    this.paused.add(part);
    return true;
  }

  resume(part: Part): void {
    const c = this.children[part];
    if (c && this.paused.delete(part)) c.kill('SIGCONT');
  }

  resumeAll(): void {
    for (const p of [...this.paused]) this.resume(p);
  }

  /** The node dies: every process gets SIGKILL and the memory volume is gone. */
  async crash(): Promise<void> {
    this.stopped = true;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.fenceTimer = null;
    const all = Object.values(this.children);
    for (const c of all) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
    await Promise.all(all.map((c) => exited(c)));
    await rm(this.keyDir, { recursive: true, force: true });
  }

  /** A new pod instance in the same slot. */
  async replace(): Promise<void> {
    await this.crash();
    this.uid = randomUUID();
    await this.boot();
  }

  async dispose(): Promise<void> {
    await this.crash();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export { until };
