// A validator pod on a real chain: `keyhold-hook fetch` (the init
// container), then a Lodestar validator client started the way the pod's
// start script would (doppelganger detection as fetch's
// `doppelganger-protection` file says), then `keyhold-hook keeper` in the
// Keymanager mode importing the granted keys into that client. The operator
// side is the real `keyhold` CLI.

import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readDoppelgangerAdvice } from '../../../operator-hooks/doppelganger';
import type { GrantRecord } from '../../../operator-hooks/key-files';
import { exited, podDir, spawnHook, type Broker } from '../../e2e/support/cluster';
import type { Interchange } from '../../support/interchange';
import { freePort } from '../../support/ports';
import { until, ValidatorClient, type BeaconNode } from './lodestar';

const cli = resolve(import.meta.dirname, '../../../src/cli/bin.mjs');

/** `keyhold <args>` against `broker`, as its operator (the dev credential in the broker's home). */
export async function keyhold(broker: Broker, args: readonly string[]): Promise<string> {
  const env = { ...process.env, KEYHOLD_HOME: broker.home, KEYHOLD_URL: broker.url };
  const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], { env, cwd: resolve(import.meta.dirname, '../../..') });
  return stdout;
}

export class ChainPod {
  readonly log: string[] = [];
  vc!: ValidatorClient;
  doppelganger: boolean | null = null;
  private keeper: ChildProcess | null = null;

  private constructor(
    readonly beacon: BeaconNode,
    readonly broker: Broker,
    readonly podName: string,
    readonly validators: readonly string[],
    readonly dir: string,
    readonly uid: string,
  ) {}

  static async create(beacon: BeaconNode, broker: Broker, podName: string, validators: readonly string[]): Promise<ChainPod> {
    const uid = randomUUID();
    return new ChainPod(beacon, broker, podName, validators, (await podDir(broker, 'keyhold-chain', podName, uid)).dir, uid);
  }

  get slot(): string {
    return `local/validators/${this.podName}`;
  }
  get keyDir(): string {
    return join(this.dir, 'keys');
  }
  private get tokenFile(): string {
    return join(this.dir, 'token');
  }
  private get pidfile(): string {
    return join(this.dir, 'vc.pid');
  }

  private env(): Record<string, string> {
    return {
      KEYHOLD_URL: this.broker.url,
      KEYHOLD_VALIDATORS: this.validators.join(','),
      KEYHOLD_TOKEN_FILE: this.tokenFile,
      KEYHOLD_KEY_DIR: this.keyDir,
      KEYHOLD_RETRY_MAX_SECONDS: '1',
      KEYHOLD_HTTP_TIMEOUT_SECONDS: '5',
    };
  }

  /** The init container alone: resolves when fetch exits 0 (it waits out a 425 or a standby's 403). */
  async fetch(timeoutMs: number): Promise<void> {
    const child = spawnHook('fetch', this.env(), this.log);
    const code = await Promise.race([exited(child), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs))]);
    if (code === 'timeout') child.kill('SIGKILL');
    if (code !== 0) throw new Error(`${this.podName}: fetch ended with ${code}\n${this.log.join('\n')}`);
  }

  /** What fetch left for `validator`: its grant record and the merged interchange the keeper imports. */
  async delivered(validator: string): Promise<{ grant: GrantRecord; interchange: Interchange | null }> {
    const dir = join(this.keyDir, validator);
    const grant = JSON.parse(await readFile(join(dir, 'grant.json'), 'utf8')) as GrantRecord;
    const text = await readFile(join(dir, 'slashing-protection.json'), 'utf8').catch(() => null);
    return { grant, interchange: text === null ? null : (JSON.parse(text) as Interchange) };
  }

  /**
   * The native sidecar, then the main container, in the kubelet's order: the
   * keeper renews from the start and imports the keys once the client's API
   * answers (a client slower to start than a grant's lifetime would
   * otherwise find its keeper's grants lost); the client as fetch's advice says.
   */
  async startClientAndKeeper(): Promise<void> {
    this.doppelganger = await readDoppelgangerAdvice(this.keyDir);
    this.vc = await ValidatorClient.create(this.beacon, this.podName);
    const port = await freePort();
    this.keeper = spawnHook('keeper', {
      ...this.env(),
      KEYHOLD_KEYMANAGER_URL: `http://127.0.0.1:${port}`,
      KEYHOLD_KEYMANAGER_TOKEN_FILE: join(this.vc.dataDir, 'validator-db', 'api-token.txt'),
      KEYHOLD_CLIENT: 'lodestar',
      KEYHOLD_SIGNER_PIDFILE: this.pidfile,
      KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '2',
      KEYHOLD_RENEW_MARGIN_SECONDS: '4',
      KEYHOLD_KEEPER_PORT: '0',
      KEYHOLD_RELEASE_TIMEOUT_SECONDS: '5',
      KEYHOLD_PROBE_STATE_FILE: join(this.dir, 'probe.json'),
    }, this.log);
    await this.vc.start({ doppelganger: this.doppelganger, keymanagerPort: port });
    await writeFile(this.pidfile, String(this.vc.pid));
    await until(`${this.podName}: every key in its client`, async () => (await this.vc.keymanager!.list().catch(() => [])).length === this.validators.length, 60_000);
  }

  logged(pattern: RegExp): boolean {
    return this.log.some((l) => pattern.test(l));
  }

  /**
   * Planned stop: SIGTERM to the keeper, which deletes each key through the
   * API, stops the client that still lists it, and releases with the DELETE's
   * interchange. Resolves once both processes are gone.
   */
  async terminate(): Promise<void> {
    if (this.keeper) {
      this.keeper.kill('SIGTERM');
      await exited(this.keeper);
    }
    await this.vc?.stop();
  }

  /** The node dies: kill -9 of the keeper and the client. */
  async crash(): Promise<void> {
    this.keeper?.kill('SIGKILL');
    if (this.keeper) await exited(this.keeper);
    await this.vc?.stop({ hard: true });
  }

  /** The client's own slashing-protection database, exported once it has stopped. */
  async exported(): Promise<Interchange> {
    return JSON.parse(await this.vc.exportSlashingProtection()) as Interchange;
  }

  async cleanup(): Promise<void> {
    await this.crash().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
    if (this.vc) await rm(dirname(this.vc.dataDir), { recursive: true, force: true });
  }
}
