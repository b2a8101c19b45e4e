// The hooks' whole contract with the manifests: KEYHOLD_* environment
// variables, parsed once per process. One set of names for all three verbs,
// because the liveness probe is exec'd inside the keeper container and
// inherits its environment; a name outside the set is a typo, refused by name.

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isValidatorId } from '../src/core/names';

export type Verb = 'fetch' | 'keeper' | 'probe';
export const verbs: readonly Verb[] = ['fetch', 'keeper', 'probe'];

export type Env = Readonly<Record<string, string | undefined>>;

export class HookConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'HookConfigError';
  }
}

/** Every variable any verb reads, with what it is for (printed by `keyhold-hook help`). */
export const knownVariables = {
  KEYHOLD_URL: 'broker base URL (https, or http on loopback only)',
  KEYHOLD_VALIDATOR: 'validator id (the one-key form)',
  KEYHOLD_VALIDATORS: 'comma-separated validator ids held by this pod; each key in KEYHOLD_KEY_DIR/<id>/ (instead of KEYHOLD_VALIDATOR)',
  KEYHOLD_KEYMANAGER_URL: 'keeper: the validator client\'s Keymanager API; keys are imported and deleted through it (https, or http on loopback)',
  KEYHOLD_KEYMANAGER_TOKEN_FILE: 'keeper: the client\'s Keymanager API token file, re-read on every request',
  KEYHOLD_CLIENT: 'validator client whose file layout the mount mode writes: lighthouse, lodestar, teku, nimbus, prysm, web3signer',
  KEYHOLD_VALIDATOR_SETTINGS_FILE: 'JSON file of per-validator fee recipient, gas limit, graffiti and builder proposals, written where KEYHOLD_CLIENT reads them',
  KEYHOLD_TOKEN_FILE: 'projected service-account token (audience keyhold), re-read on every request',
  KEYHOLD_KEY_DIR: 'memory-backed volume the key is written to',
  KEYHOLD_FETCH_WAIT_FOR_DESIGNATION: 'true (default): keep waiting on 403 not_designated; false: exit on it',
  KEYHOLD_RETRY_MAX_SECONDS: 'longest single wait between broker attempts (default 5; a standby answered not_designated waits the broker\'s Retry-After instead)',
  KEYHOLD_FETCH_WAIT_SECONDS: 'how long the broker may hold a "not admitted yet" answer to hand the key over the moment the previous holder lets go (default 10; the broker caps it; 0: plain polling)',
  KEYHOLD_HTTP_TIMEOUT_SECONDS: 'timeout of one broker request (default 10)',
  KEYHOLD_SIGNER_PIDFILE: 'keeper: file holding the signer pid',
  KEYHOLD_SIGNER_PROCESS: 'keeper: signer process name, matched against /proc/*/comm and argv[0]',
  KEYHOLD_SIGNER_STOP_GRACE_SECONDS: 'keeper: SIGTERM to SIGKILL delay (default 5)',
  KEYHOLD_KEEPER_PORT: 'keeper: port of /state, /metrics, /readyz (default 9102; 0 picks one)',
  KEYHOLD_SLASHING_EXPORT_COMMAND: 'keeper: command printing the EIP-3076 interchange once the signer stopped (argv split on spaces, no shell)',
  KEYHOLD_SLASHING_EXPORT_WAIT_SECONDS: 'keeper: how long to wait, after stopping the signer, for slashing-protection-export.json to appear (default 0: read it at once)',
  KEYHOLD_RENEW_MARGIN_SECONDS: 'keeper: stop the signer this long before the grant runs out (default 10)',
  KEYHOLD_RELEASE_TIMEOUT_SECONDS: 'keeper: how long to keep trying to release on shutdown (default 30)',
  KEYHOLD_PROBE_KIND: 'probe: beacon (default) or execution',
  KEYHOLD_PROBE_LOCAL_URL: 'probe: the local node',
  KEYHOLD_PROBE_REFERENCE_URLS: 'probe: comma-separated reference nodes (empty: wall clock and genesis)',
  KEYHOLD_PROBE_MAX_BEHIND_SECONDS: 'probe: unhealthy when further behind than this',
  KEYHOLD_PROBE_BLOCK_TIME_SECONDS: 'probe: seconds per block or slot, to turn blocks into time',
  KEYHOLD_PROBE_GRACE_SECONDS: 'probe: how long the local node may be unreachable before that counts (default 600)',
  KEYHOLD_PROBE_STATE_FILE: 'probe: where the probe remembers outages between runs (default $TMPDIR/keyhold-probe.json)',
  KEYHOLD_TEST_MODE: 'test only (the chaos harness): 1 allows KEYHOLD_TEST_CLOCK_OFFSET_MS; never set in a pod',
  KEYHOLD_TEST_CLOCK_OFFSET_MS: 'test only: skew this process\'s wall clock by this many ms, within half of KEYHOLD_MAX_CLOCK_SKEW_SECONDS',
  KEYHOLD_MAX_CLOCK_SKEW_SECONDS: 'test only: the deployment\'s clock-skew bound that KEYHOLD_TEST_CLOCK_OFFSET_MS must stay within',
} as const;
export type Variable = keyof typeof knownVariables;

export const clients = ['lighthouse', 'lodestar', 'teku', 'nimbus', 'prysm', 'web3signer'] as const;
export type ClientName = (typeof clients)[number];

export interface BrokerSettings {
  readonly url: URL;
  /** The first of `validators`: the one-key form's validator. */
  readonly validator: string;
  /** Every validator this pod holds (one for KEYHOLD_VALIDATOR). */
  readonly validators: readonly string[];
  /** Where validator `v`'s files go: KEYHOLD_KEY_DIR itself in the one-key form, else a directory per validator. */
  readonly keyDirOf: (validator: string) => string;
  readonly tokenFile: string;
  readonly keyDir: string;
  readonly waitForDesignation: boolean;
  readonly retryMaxMs: number;
  readonly fetchWaitMs: number;
  readonly httpTimeoutMs: number;
  /** The client whose mount layout fetch writes (and the keeper removes); null: only the files in each key's directory. */
  readonly client: ClientName | null;
  readonly settingsFile: string | null;
}

export interface FetchConfig extends BrokerSettings {
  readonly verb: 'fetch';
}

export interface KeeperConfig extends BrokerSettings {
  readonly verb: 'keeper';
  readonly signer: { readonly pidfile: string | null; readonly process: string | null; readonly graceMs: number };
  readonly port: number;
  readonly exportCommand: readonly string[] | null;
  /** How long the export file may take to appear after the signer stopped (a wrapper exports after its client exits). */
  readonly exportWaitMs: number;
  readonly renewMarginMs: number;
  readonly releaseTimeoutMs: number;
  readonly probeStateFile: string;
  /** Keymanager mode: keys enter and leave the running client through its API. */
  readonly keymanager: { readonly url: URL; readonly tokenFile: string } | null;
}

export interface ProbeConfig {
  readonly verb: 'probe';
  readonly validator: string | null;
  readonly kind: 'beacon' | 'execution';
  readonly localUrl: URL;
  readonly referenceUrls: readonly URL[];
  readonly maxBehindSeconds: number;
  readonly blockTimeSeconds: number;
  readonly graceMs: number;
  readonly stateFile: string;
}

export type HookConfig = FetchConfig | KeeperConfig | ProbeConfig;

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

class Reader {
  constructor(private readonly env: Env) {}

  optional(name: Variable): string | undefined {
    const v = this.env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  }

  required(name: Variable, why: string): string {
    const v = this.optional(name);
    if (v === undefined) throw new HookConfigError(name, `required ${why}`);
    return v;
  }

  number(name: Variable, dflt: number | undefined, min: number, max: number, opts: { integer?: boolean } = {}): number {
    const raw = this.optional(name);
    if (raw === undefined) {
      if (dflt === undefined) throw new HookConfigError(name, 'required');
      return dflt;
    }
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (opts.integer && !Number.isInteger(n))) {
      throw new HookConfigError(name, `must be a ${opts.integer ? 'whole ' : ''}number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  }

  flag(name: Variable, dflt: boolean): boolean {
    const raw = this.optional(name);
    if (raw === undefined) return dflt;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new HookConfigError(name, `must be true or false, got "${raw}"`);
  }

  url(name: Variable, raw: string, opts: { secret: boolean }): URL {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new HookConfigError(name, `not a URL: "${raw}"`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new HookConfigError(name, 'must be http or https');
    // The pod token is a bearer credential: anyone who reads it can ask for
    // the key with an ephemeral key of their own. Plain HTTP only on loopback.
    if (opts.secret && u.protocol === 'http:' && !loopbackHosts.has(u.hostname)) {
      throw new HookConfigError(name, 'must be https (plain http is allowed on loopback only, because the pod token travels with every request)');
    }
    return u;
  }
}

/** Refuse any KEYHOLD_* variable this program does not know: a typo must not silently fall back to a default. */
export function checkUnknown(env: Env): void {
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('KEYHOLD_') && !(name in knownVariables)) {
      throw new HookConfigError(name, 'unknown variable (see `keyhold-hook help` for the ones that exist)');
    }
  }
}

function brokerSettings(r: Reader, verb: Verb): BrokerSettings {
  const why = `for ${verb}`;
  const { validators, perValidatorDirs } = validatorList(r, why);
  const keyDir = resolve(r.required('KEYHOLD_KEY_DIR', why));
  const client = r.optional('KEYHOLD_CLIENT');
  if (client !== undefined && !(clients as readonly string[]).includes(client)) {
    throw new HookConfigError('KEYHOLD_CLIENT', `must be one of ${clients.join(', ')}, got "${client}"`);
  }
  const settingsFile = r.optional('KEYHOLD_VALIDATOR_SETTINGS_FILE');
  return {
    client: (client as ClientName | undefined) ?? null,
    settingsFile: settingsFile === undefined ? null : resolve(settingsFile),
    url: r.url('KEYHOLD_URL', r.required('KEYHOLD_URL', why), { secret: true }),
    validator: validators[0]!,
    validators,
    keyDirOf: perValidatorDirs ? (v) => join(keyDir, v) : () => keyDir,
    tokenFile: r.required('KEYHOLD_TOKEN_FILE', why),
    keyDir,
    waitForDesignation: r.flag('KEYHOLD_FETCH_WAIT_FOR_DESIGNATION', true),
    retryMaxMs: r.number('KEYHOLD_RETRY_MAX_SECONDS', 5, 0.1, 300) * 1000,
    fetchWaitMs: Math.floor(r.number('KEYHOLD_FETCH_WAIT_SECONDS', 10, 0, 60)) * 1000,
    httpTimeoutMs: r.number('KEYHOLD_HTTP_TIMEOUT_SECONDS', 10, 0.5, 120) * 1000,
  };
}

/** Largest list the broker answers in one request (src/broker/grant-batch.ts). */
const maxValidators = 1000;

function validatorList(r: Reader, why: string): { validators: string[]; perValidatorDirs: boolean } {
  const one = r.optional('KEYHOLD_VALIDATOR');
  const many = r.optional('KEYHOLD_VALIDATORS');
  if (one !== undefined && many !== undefined) throw new HookConfigError('KEYHOLD_VALIDATORS', 'set either KEYHOLD_VALIDATOR or KEYHOLD_VALIDATORS, not both');
  if (many === undefined) {
    const v = r.required('KEYHOLD_VALIDATOR', `${why} (or KEYHOLD_VALIDATORS)`);
    if (!isValidatorId(v)) throw new HookConfigError('KEYHOLD_VALIDATOR', `not a validator id: "${v}"`);
    return { validators: [v], perValidatorDirs: false };
  }
  const list = many.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new HookConfigError('KEYHOLD_VALIDATORS', 'lists no validator');
  if (list.length > maxValidators) throw new HookConfigError('KEYHOLD_VALIDATORS', `lists ${list.length} validators; at most ${maxValidators}`);
  for (const v of list) if (!isValidatorId(v)) throw new HookConfigError('KEYHOLD_VALIDATORS', `not a validator id: "${v}"`);
  const dup = list.find((v, i) => list.indexOf(v) !== i);
  if (dup !== undefined) throw new HookConfigError('KEYHOLD_VALIDATORS', `lists "${dup}" twice`);
  return { validators: list, perValidatorDirs: true };
}

export function parseHookConfig(verb: Verb, env: Env): HookConfig {
  checkUnknown(env);
  const r = new Reader(env);
  if (verb === 'fetch') return { verb, ...brokerSettings(r, verb) };
  if (verb === 'keeper') {
    const base = brokerSettings(r, verb);
    const pidfile = r.optional('KEYHOLD_SIGNER_PIDFILE') ?? null;
    const processName = r.optional('KEYHOLD_SIGNER_PROCESS') ?? null;
    if (pidfile === null && processName === null) {
      throw new HookConfigError('KEYHOLD_SIGNER_PROCESS', 'required for keeper (or KEYHOLD_SIGNER_PIDFILE): the keeper must be able to stop the signer');
    }
    if (processName !== null && !/^[A-Za-z0-9._+-]{1,64}$/.test(processName)) {
      throw new HookConfigError('KEYHOLD_SIGNER_PROCESS', `must be a plain process name, got "${processName}"`);
    }
    const graceMs = r.number('KEYHOLD_SIGNER_STOP_GRACE_SECONDS', 5, 0.1, 600) * 1000;
    const renewMarginMs = r.number('KEYHOLD_RENEW_MARGIN_SECONDS', 10, 1, 3600) * 1000;
    // The margin is the time the keeper has to stop the signer before the
    // grant runs out; the stop can take the whole grace before SIGKILL.
    if (renewMarginMs <= graceMs) {
      throw new HookConfigError('KEYHOLD_RENEW_MARGIN_SECONDS', `must be more than KEYHOLD_SIGNER_STOP_GRACE_SECONDS (${graceMs / 1000}), or the signer may outlive the grant`);
    }
    const cmd = r.optional('KEYHOLD_SLASHING_EXPORT_COMMAND');
    const kmUrl = r.optional('KEYHOLD_KEYMANAGER_URL');
    const keymanager = kmUrl === undefined
      ? null
      : { url: r.url('KEYHOLD_KEYMANAGER_URL', kmUrl, { secret: true }), tokenFile: resolve(r.required('KEYHOLD_KEYMANAGER_TOKEN_FILE', 'with KEYHOLD_KEYMANAGER_URL')) };
    if (keymanager === null && r.optional('KEYHOLD_KEYMANAGER_TOKEN_FILE') !== undefined) {
      throw new HookConfigError('KEYHOLD_KEYMANAGER_URL', 'required with KEYHOLD_KEYMANAGER_TOKEN_FILE');
    }
    // In the mount mode one signer process holds every key: stopping it for
    // one validator's fence stops them all, and a validator still waiting for
    // its designation would keep the others' signer stopped.
    if (keymanager === null && base.validators.length > 1) {
      throw new HookConfigError('KEYHOLD_VALIDATORS', 'several validators need the Keymanager mode of the keeper (KEYHOLD_KEYMANAGER_URL), so that a fence of one removes only its key');
    }
    return {
      verb,
      ...base,
      signer: { pidfile: pidfile === null ? null : resolve(pidfile), process: processName, graceMs },
      port: r.number('KEYHOLD_KEEPER_PORT', 9102, 0, 65535, { integer: true }),
      exportCommand: cmd === undefined ? null : cmd.split(/\s+/).filter(Boolean),
      exportWaitMs: r.number('KEYHOLD_SLASHING_EXPORT_WAIT_SECONDS', 0, 0, 300) * 1000,
      renewMarginMs,
      releaseTimeoutMs: r.number('KEYHOLD_RELEASE_TIMEOUT_SECONDS', 30, 1, 600) * 1000,
      probeStateFile: probeStateFile(r),
      keymanager,
    };
  }
  const kind = r.optional('KEYHOLD_PROBE_KIND') ?? 'beacon';
  if (kind !== 'beacon' && kind !== 'execution') throw new HookConfigError('KEYHOLD_PROBE_KIND', `must be beacon or execution, got "${kind}"`);
  const refs = (r.optional('KEYHOLD_PROBE_REFERENCE_URLS') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const validator = r.optional('KEYHOLD_VALIDATOR') ?? r.optional('KEYHOLD_VALIDATORS')?.split(',')[0]?.trim() ?? null;
  return {
    verb,
    validator,
    kind,
    localUrl: r.url('KEYHOLD_PROBE_LOCAL_URL', r.required('KEYHOLD_PROBE_LOCAL_URL', 'for probe'), { secret: false }),
    referenceUrls: refs.map((u) => r.url('KEYHOLD_PROBE_REFERENCE_URLS', u, { secret: false })),
    maxBehindSeconds: r.number('KEYHOLD_PROBE_MAX_BEHIND_SECONDS', undefined, 1, 86_400),
    blockTimeSeconds: r.number('KEYHOLD_PROBE_BLOCK_TIME_SECONDS', undefined, 0.01, 3600),
    graceMs: r.number('KEYHOLD_PROBE_GRACE_SECONDS', 600, 0, 86_400) * 1000,
    stateFile: probeStateFile(r),
  };
}

function probeStateFile(r: Reader): string {
  return resolve(r.optional('KEYHOLD_PROBE_STATE_FILE') ?? join(tmpdir(), 'keyhold-probe.json'));
}
