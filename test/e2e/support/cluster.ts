// Real processes on loopback: a broker (src/server.ts through tsx) and "pods"
// made of the keyhold-hook fetch and keeper processes plus a stand-in
// validator, supervised the way the kubelet would: fetch first, then the
// keeper and the validator, the validator restarted whenever it exits.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mintDevPodToken, readOperatorCredential } from '../../../src/identity/dev-credentials';
import { operatorFetch } from '../../support/operator-requests';
import { hasKeyFiles } from '../../../operator-hooks/key-files';
import type { KeeperStatus } from '../../../operator-hooks/keeper';
import { generatedKeyMaterial, testGenesisRoot } from '../../support/fixtures';

const root = resolve(import.meta.dirname, '../../..');
const hookBin = join(root, 'operator-hooks/bin.mjs');
const standInScript = join(import.meta.dirname, 'stand-in.mjs');

/** The smallest timings the broker's config allows (src/config.ts): horizon 30 s, takeover wait 31 s. */
export const brokerTiming = { KEYHOLD_GRANT_TTL_SECONDS: '15', KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '15', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '1', KEYHOLD_COMMIT_DEADLINE_SECONDS: '2', KEYHOLD_STANDBY_RETRY_SECONDS: '1' };
export const horizonMs = 30_000;

const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYHOLD_')));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

/** `keyhold-hook <verb>` with only `env`'s KEYHOLD_* settings, its output lines pushed to `log`. */
export function spawnHook(verb: 'fetch' | 'keeper', env: Record<string, string>, log: string[]): ChildProcess {
  const child = spawn(process.execPath, [hookBin, verb], { cwd: root, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean).map((l) => `[${verb}] ${l}`));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return child;
}

export class Broker {
  private child: ChildProcess | null = null;
  port = 0;
  readonly log: string[] = [];

  private constructor(
    readonly home: string,
    private readonly extraEnv: Readonly<Record<string, string>>,
  ) {}

  static async start(extraEnv: Readonly<Record<string, string>> = {}): Promise<Broker> {
    const b = new Broker(await mkdtemp(join(tmpdir(), 'keyhold-e2e-home-')), extraEnv);
    await b.spawn();
    return b;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Start (or restart on the same port, same home) and wait for the "listening" line. */
  async spawn(): Promise<void> {
    const env = { ...cleanEnv(), ...brokerTiming, KEYHOLD_HOME: this.home, KEYHOLD_PORT: String(this.port), KEYHOLD_LOG_LEVEL: 'warn', ...this.extraEnv };
    // node --import tsx rather than npx: the pid we signal is the server itself.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    const port = await new Promise<number>((res, rej) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /keyhold broker listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) res(Number(m[1]));
      });
      child.once('exit', (code) => rej(new Error(`broker exited with ${code}: ${this.log.join('')}`)));
    });
    this.port = port;
  }

  /** Whether the broker process is up (a scenario that killed it may have failed before restarting it). */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(): Promise<number | null> {
    const c = this.child!;
    c.kill('SIGKILL');
    return exited(c);
  }

  pause(): void {
    this.child!.kill('SIGSTOP');
  }

  resume(): void {
    this.child!.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGTERM');
      await exited(this.child);
    }
    await rm(this.home, { recursive: true, force: true });
  }

  private async operator(method: string, path: string, body?: unknown): Promise<unknown> {
    const cred = await readOperatorCredential(join(this.home, 'operator.json'));
    const res = await operatorFetch(this.url, cred, method, path, body);
    const json = (await res.json()) as unknown;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Import generated (never real) key material for `id`, allowed in `slots`, designated at the first. */
  async importValidator(id: string, slots: string[]): Promise<{ publicId: string }> {
    const g = generatedKeyMaterial();
    await this.operator('PUT', `/v1/validators/${id}/key`, {
      format: 'eip2335',
      publicId: g.publicId,
      files: { 'keystore.json': Buffer.from(g.keystore).toString('base64'), 'password.txt': Buffer.from(g.password).toString('base64') },
      slots,
      serviceAccounts: ['validator'],
      reason: 'e2e',
      genesisValidatorsRoot: testGenesisRoot,
    });
    return { publicId: g.publicId };
  }

  /** Import a given EIP-2335 keystore (a published test key) for `id`, on the chain whose genesis validators root is given. */
  async importKeystore(id: string, slots: string[], keystore: string, password: string, genesisValidatorsRoot: string): Promise<void> {
    const pubkey = (JSON.parse(keystore) as { pubkey: string }).pubkey.replace(/^0x/, '');
    await this.operator('PUT', `/v1/validators/${id}/key`, {
      format: 'eip2335',
      publicId: `0x${pubkey}`,
      files: { 'keystore.json': Buffer.from(keystore).toString('base64'), 'password.txt': Buffer.from(password).toString('base64') },
      slots,
      serviceAccounts: ['validator'],
      genesisValidatorsRoot,
      reason: 'chain test',
    });
  }

  promote(id: string, slot: string): Promise<unknown> {
    return this.operator('POST', `/v1/validators/${id}/promote`, { slot, reason: 'e2e promotion' });
  }
}

/** A pod instance's own folder (in memory where the machine has /dev/shm): its key volume and its projected token. */
export async function podDir(broker: Broker, prefix: string, podName: string, podUid: string): Promise<{ dir: string; keyDir: string; tokenFile: string }> {
  // /dev/shm where there is one: the key volume is memory-backed in a real pod too.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(base, `${prefix}-${podName}-`));
  const keyDir = join(dir, 'keys');
  const tokenFile = join(dir, 'token');
  await mkdir(keyDir, { mode: 0o700 });
  await writeFile(tokenFile, await mintDevPodToken(broker.home, { namespace: 'validators', podName, podUid, ttlSeconds: 3600 }), { mode: 0o600 });
  return { dir, keyDir, tokenFile };
}

export interface Interval {
  start: number;
  end: number | null;
}

/** One validator pod instance: its own pod UID, key volume, fetch, keeper and stand-in validator. */
export class Pod {
  readonly intervals: Interval[] = [];
  readonly log: string[] = [];
  readonly states: { at: number; state: KeeperStatus }[] = [];
  keeperPort = 0;
  stopped = false;
  private keeper: ChildProcess | null = null;
  private fetcher: ChildProcess | null = null;
  private standIn: ChildProcess | null = null;
  private poller: NodeJS.Timeout | null = null;

  private constructor(
    readonly broker: Broker,
    readonly validator: string,
    readonly podName: string,
    readonly dir: string,
    readonly uid: string,
  ) {}

  static async create(broker: Broker, validator: string, podName: string): Promise<Pod> {
    const uid = randomUUID();
    return new Pod(broker, validator, podName, (await podDir(broker, 'keyhold-e2e', podName, uid)).dir, uid);
  }

  get slot(): string {
    return `local/validators/${this.podName}`;
  }
  get keyDir(): string {
    return join(this.dir, 'keys');
  }
  get tokenFile(): string {
    return join(this.dir, 'token');
  }
  get pidfile(): string {
    return join(this.dir, 'signer.pid');
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...cleanEnv(),
      KEYHOLD_URL: this.broker.url,
      KEYHOLD_VALIDATOR: this.validator,
      KEYHOLD_TOKEN_FILE: this.tokenFile,
      KEYHOLD_KEY_DIR: this.keyDir,
      KEYHOLD_RETRY_MAX_SECONDS: '1',
      KEYHOLD_HTTP_TIMEOUT_SECONDS: '2',
      ...extra,
    };
  }

  private hook(verb: 'fetch' | 'keeper', extra: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [hookBin, verb], { cwd: root, env: this.env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) this.log.push(`${Date.now()} [${this.podName} ${verb}] ${line}`);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    return child;
  }

  /** Init container, then native sidecar, then the main container: the kubelet's order. */
  async boot(opts: { fetchTimeoutMs?: number } = {}): Promise<void> {
    this.fetcher = this.hook('fetch');
    const code = await Promise.race([exited(this.fetcher), sleep(opts.fetchTimeoutMs ?? 60_000).then(() => 'timeout' as const)]);
    if (code !== 0) throw new Error(`${this.podName}: fetch ended with ${code}\n${this.log.join('\n')}`);
    this.fetcher = null;
    if (this.stopped) return;
    this.keeper = this.hook('keeper', {
      KEYHOLD_SIGNER_PIDFILE: this.pidfile,
      KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '1',
      KEYHOLD_RENEW_MARGIN_SECONDS: '3',
      KEYHOLD_KEEPER_PORT: '0',
      KEYHOLD_RELEASE_TIMEOUT_SECONDS: '5',
      KEYHOLD_PROBE_STATE_FILE: join(this.dir, 'probe.json'),
    });
    this.keeperPort = await until(`${this.podName} keeper port`, () => Number(/status on :(\d+)/.exec(this.log.join('\n'))?.[1] ?? 0), 20_000, 50);
    this.poller = setInterval(() => void this.poll(), 150);
    this.runStandIn();
  }

  private async poll(): Promise<void> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.keeperPort}/state`, { signal: AbortSignal.timeout(500) });
      this.states.push({ at: Date.now(), state: (await res.json()) as KeeperStatus });
    } catch {
      // keeper gone or busy: no sample
    }
  }

  get lastState(): KeeperStatus | undefined {
    return this.states.at(-1)?.state;
  }

  private runStandIn(): void {
    if (this.stopped) return;
    const child = spawn(process.execPath, [standInScript, this.keyDir, this.pidfile], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.standIn = child;
    let open: Interval | null = null;
    child.stdout!.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/loading (\d+)/g)) {
        open = { start: Number(m[1]), end: null };
        this.intervals.push(open);
      }
    });
    child.once('exit', () => {
      // Seen after the fact, so the recorded end is never earlier than the real one.
      if (open) open.end = Date.now();
      this.standIn = null;
      setTimeout(() => this.runStandIn(), 100);
    });
  }

  /** Whether the stand-in holds the key right now. */
  get holding(): boolean {
    const last = this.intervals.at(-1);
    return last !== undefined && last.end === null;
  }

  keyFilesPresent(): Promise<boolean> {
    return hasKeyFiles(this.keyDir);
  }

  /**
   * Graceful pod deletion: SIGTERM the main container, wait, then SIGTERM the
   * sidecar (which releases). `interchange` is what the manifests' wrapper
   * exports after lighthouse stopped, for the keeper to upload.
   */
  async terminate(opts: { interchange?: unknown } = {}): Promise<void> {
    this.stopped = true;
    if (this.fetcher) {
      this.fetcher.kill('SIGTERM');
      await exited(this.fetcher);
    }
    if (this.standIn) {
      this.standIn.kill('SIGTERM');
      await exited(this.standIn);
    }
    if (opts.interchange !== undefined) await writeFile(join(this.keyDir, 'slashing-protection-export.json'), JSON.stringify(opts.interchange));
    if (this.keeper) {
      this.keeper.kill('SIGTERM');
      await exited(this.keeper);
    }
    this.finish();
  }

  /** The node dies: every process of the pod gets SIGKILL, and its memory volume is gone. */
  async crash(): Promise<void> {
    this.stopped = true;
    const all = [this.fetcher, this.standIn, this.keeper].filter((c): c is ChildProcess => c !== null);
    for (const c of all) c.kill('SIGKILL');
    await Promise.all(all.map(exited));
    this.finish();
    await rm(this.keyDir, { recursive: true, force: true });
  }

  private finish(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  async cleanup(): Promise<void> {
    if (!this.stopped) await this.crash();
    this.finish();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Every interval of every pod against every other pod's: none may overlap. */
export function overlaps(pods: Pod[], now = Date.now()): string[] {
  const found: string[] = [];
  for (let i = 0; i < pods.length; i++) {
    for (let j = i + 1; j < pods.length; j++) {
      for (const a of pods[i]!.intervals) {
        for (const b of pods[j]!.intervals) {
          const aEnd = a.end ?? now;
          const bEnd = b.end ?? now;
          if (a.start < bEnd && b.start < aEnd) found.push(`${pods[i]!.podName}[${a.start},${a.end}] overlaps ${pods[j]!.podName}[${b.start},${b.end}]`);
        }
      }
    }
  }
  return found;
}

/**
 * Watch that key files are never left on a pod whose stand-in is not holding
 * and whose keeper does not hold a grant. A short tolerance covers the
 * moments between the keeper stopping the signer and wiping, and between
 * fetch writing and the keeper starting.
 */
export function watchKeyFiles(pods: Pod[], toleranceMs = 1500): { stop: () => string[] } {
  const since = new Map<Pod, number>();
  const violations: string[] = [];
  const timer = setInterval(() => {
    for (const p of pods) {
      void p.keyFilesPresent().then((present) => {
        const keeperHolds = p.lastState?.state === 'holding' && !p.stopped;
        const bad = present && !p.holding && (!keeperHolds || p.stopped);
        if (!bad) return void since.delete(p);
        const first = since.get(p) ?? Date.now();
        since.set(p, first);
        if (Date.now() - first > toleranceMs) violations.push(`${p.podName}: key files present ${Date.now() - first} ms while not holding (keeper ${p.lastState?.state ?? 'unknown'})`);
      });
    }
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return violations;
    },
  };
}
