// A real consensus client on loopback: Lodestar 1.5.1 from its own folder
// (test/chain/lodestar, its tree pinned to Lodestar's lockfile at the tag; see
// ../shared/CHAIN.md), a dev beacon node with a mock execution engine, and
// validator clients in processes of their own. Only what the chain tests
// observe is wrapped: the beacon REST API for liveness and slashings, and the
// Keymanager API of each validator client.

import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/ports';

export const lodestarDir = resolve(import.meta.dirname, '../lodestar');
const lodestarMain = join(lodestarDir, 'node_modules/@chainsafe/lodestar/lib/index.js');

/** Why the chain group cannot run here, or null. CI installs the folder (`.ci/run`), so there this is always null. */
export function lodestarMissing(): string | null {
  return existsSync(lodestarMain) ? null : `Lodestar is not installed: run \`npm ci --prefix ${lodestarDir}\``;
}

/** The dev chain's parameters; every client of one chain must be started with the same. */
export const chainParams = ['--params.SECONDS_PER_SLOT', '1', '--params.ALTAIR_FORK_EPOCH', '0'] as const;
export const secondsPerSlot = 1;
/** Lodestar's dev network uses the minimal preset. */
export const slotsPerEpoch = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs: number, everyMs = 250): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(f).catch(() => null);
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

function lodestar(args: readonly string[], cwd: string, log: string[]): ChildProcess {
  // node directly, not through a wrapper, so the pid we signal is the client's.
  const child = spawn(process.execPath, [lodestarMain, ...args, '--logFile', 'none'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 2000) log.splice(0, 1000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

export interface InteropKey {
  readonly index: number;
  /** 0x-prefixed BLS public key. */
  readonly pubkey: string;
  /** The EIP-2335 keystore's path. */
  readonly file: string;
}

/**
 * EIP-2335 keystores of the interop secret keys (published dev-chain test
 * keys, never real ones), written by Lodestar's own keystore library.
 */
export async function interopKeystores(outDir: string, password: string, first: number, count: number): Promise<InteropKey[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(lodestarDir, 'interop-keystores.mjs'), outDir, password, String(first), String(count)], { cwd: lodestarDir });
  return JSON.parse(stdout) as InteropKey[];
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export interface Slashings {
  readonly attester: number;
  readonly proposer: number;
}

/** `lodestar dev`: genesis of `validators` interop keys, of which `inProcess` are run by the node itself. */
export class BeaconNode {
  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly restUrl: string,
    readonly log: string[],
  ) {}

  static async start(opts: { validators: number; inProcess: number }): Promise<BeaconNode> {
    const dir = await mkdtemp(join(tmpdir(), 'keyhold-chain-bn-'));
    const [p2p, rest] = [await freePort(), await freePort()];
    const restUrl = `http://127.0.0.1:${rest}`;
    const args = [
      'dev',
      '--dataDir', join(dir, 'bn'),
      '--genesisValidators', String(opts.validators),
      ...(opts.inProcess > 0 ? ['--startValidators', `0..${opts.inProcess - 1}`] : []),
      ...chainParams,
      '--execution.engineMock',
      '--listenAddress', '127.0.0.1', '--port', String(p2p), '--discv5', 'false',
      '--rest.address', '127.0.0.1', '--rest.port', String(rest), '--server', restUrl,
    ];
    // `dev` writes genesis.ssz into its working directory: one per node.
    const log: string[] = [];
    const node = new BeaconNode(lodestar(args, dir, log), dir, restUrl, log);
    // Under load (2 shared cores) a dev node has taken over a minute to answer.
    await until('the beacon node REST API', () => node.headSlot().then((s) => s >= 0), 100_000);
    return node;
  }

  async genesisValidatorsRoot(): Promise<string> {
    return (await getJson<{ data: { genesis_validators_root: string } }>(`${this.restUrl}/eth/v1/beacon/genesis`)).data.genesis_validators_root;
  }

  async headSlot(): Promise<number> {
    return Number((await getJson<{ data: { head_slot: string } }>(`${this.restUrl}/eth/v1/node/syncing`)).data.head_slot);
  }

  async currentEpoch(): Promise<number> {
    return Math.floor((await this.headSlot()) / slotsPerEpoch);
  }

  /** Which of `indices` the node saw attest (or propose) in `epoch`. */
  async live(indices: readonly number[], epoch: number): Promise<Map<number, boolean>> {
    const q = indices.map((i) => `indices=${i}`).join('&');
    const r = await getJson<{ data: { index: number | string; is_live: boolean }[] }>(`${this.restUrl}/eth/v1/validator/liveness?${q}&epoch=${epoch}`);
    return new Map(r.data.map((d) => [Number(d.index), d.is_live]));
  }

  async waitForEpoch(epoch: number, timeoutMs = 120_000): Promise<void> {
    await until(`epoch ${epoch}`, async () => (await this.currentEpoch()) >= epoch, timeoutMs);
  }

  /** Slashings in the pool plus validators already marked slashed in the head state. */
  async slashings(indices: readonly number[]): Promise<Slashings & { slashedValidators: number[] }> {
    const attester = (await getJson<{ data: unknown[] }>(`${this.restUrl}/eth/v1/beacon/pool/attester_slashings`)).data.length;
    const proposer = (await getJson<{ data: unknown[] }>(`${this.restUrl}/eth/v1/beacon/pool/proposer_slashings`)).data.length;
    const slashedValidators: number[] = [];
    for (const i of indices) {
      const v = await getJson<{ data: { validator: { slashed: boolean } } }>(`${this.restUrl}/eth/v1/beacon/states/head/validators/${i}`);
      if (v.data.validator.slashed) slashedValidators.push(i);
    }
    return { attester, proposer, slashedValidators };
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await Promise.race([exited(this.child), sleep(10_000).then(() => this.child.kill('SIGKILL'))]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface KeystoreListing {
  readonly validating_pubkey: string;
  readonly readonly?: boolean;
}

/** The standard Keymanager API (ethereum/keymanager-APIs) of one client, bearer-authenticated. */
export class KeymanagerClient {
  constructor(
    readonly url: string,
    private readonly tokenFile: string,
  ) {}

  private async call<T>(method: string, body?: unknown): Promise<T> {
    const token = (await readFile(this.tokenFile, 'utf8')).trim();
    return getJson<T>(`${this.url}/eth/v1/keystores`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async list(): Promise<string[]> {
    return (await this.call<{ data: KeystoreListing[] }>('GET')).data.map((k) => k.validating_pubkey.toLowerCase());
  }

  import(keystores: readonly string[], passwords: readonly string[], interchange?: string): Promise<{ data: { status: string; message?: string }[] }> {
    return this.call('POST', { keystores, passwords, ...(interchange === undefined ? {} : { slashing_protection: interchange }) });
  }

  delete(pubkeys: readonly string[]): Promise<{ data: { status: string }[]; slashing_protection: string }> {
    return this.call('DELETE', { pubkeys });
  }
}

/** `lodestar validator` in a process of its own, with the Keymanager API on loopback. */
export class ValidatorClient {
  readonly log: string[] = [];
  private child: ChildProcess | null = null;
  keymanager: KeymanagerClient | null = null;

  constructor(
    readonly beacon: BeaconNode,
    readonly dataDir: string,
  ) {}

  static async create(beacon: BeaconNode, name: string): Promise<ValidatorClient> {
    const dir = await mkdtemp(join(tmpdir(), `keyhold-chain-vc-${name}-`));
    await mkdir(join(dir, 'data'));
    return new ValidatorClient(beacon, join(dir, 'data'));
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  private args(extra: readonly string[]): string[] {
    return ['--network', 'dev', ...chainParams, '--dataDir', this.dataDir, '--server', this.beacon.restUrl, ...extra];
  }

  /** Start; `keys` loads keystores from a folder at boot, the Keymanager API is always on. */
  async start(opts: { keys?: { dir: string; passwordFile: string }; doppelganger?: boolean; keymanagerPort?: number } = {}): Promise<void> {
    // A restart keeps its port when asked: a keeper knows the client by its Keymanager URL.
    const port = opts.keymanagerPort ?? (await freePort());
    const extra = [
      '--keymanager', '--keymanager.address', '127.0.0.1', '--keymanager.port', String(port),
      ...(opts.keys ? ['--importKeystores', opts.keys.dir, '--importKeystoresPassword', opts.keys.passwordFile] : []),
      ...(opts.doppelganger ? ['--doppelgangerProtectionEnabled'] : []),
    ];
    this.child = lodestar(['validator', ...this.args(extra)], this.dataDir, this.log);
    this.keymanager = new KeymanagerClient(`http://127.0.0.1:${port}`, join(this.dataDir, 'validator-db', 'api-token.txt'));
    const km = this.keymanager;
    await until('the validator client Keymanager API', () => km.list().then(() => true), 60_000);
  }

  /** SIGTERM (or kill -9 with `hard`), then wait for the process to be gone. */
  async stop(opts: { hard?: boolean } = {}): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    c.kill(opts.hard ? 'SIGKILL' : 'SIGTERM');
    await Promise.race([exited(c), sleep(15_000).then(() => c.kill('SIGKILL'))]);
    await exited(c);
  }

  /** `slashing-protection export` of a stopped client: the EIP-3076 interchange as Lodestar writes it. */
  async exportSlashingProtection(): Promise<string> {
    const file = join(this.dataDir, `export-${Date.now()}.json`);
    await promisify(execFile)(process.execPath, [lodestarMain, 'validator', 'slashing-protection', 'export', ...this.args(['--file', file])], { cwd: this.dataDir });
    return readFile(file, 'utf8');
  }
}
