// The composition root: config → stores → core services → app. The only
// place that wires things together; everything else receives its parts.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { JSONWebKeySet, JWK } from 'jose';
import type { Hono } from 'hono';
import { Checkpointer } from './broker/checkpointer';
import { ledgerStore } from './broker/ledger-store';
import { DesignationReader, asStateStoreError } from './broker/designation-reader';
import { GrantService } from './broker/grants';
import { CachedKeyReader } from './broker/key-cache';
import { ReplicatedKeyReader, type KeyRead, type KeyReader } from './broker/key-reader';
import { BrokerMetrics } from './metrics';
import { OperationsService } from './broker/operations';
import { RefusalLedger, type RefusalDedupeOptions } from './broker/refusals';
import { DesignationWatch, type WatchOptions } from './broker/designation-watch';
import { ConfigError, type Config } from './config';
import { defaultSchedule, type CheckpointSchedule } from './core/checkpoints';
import { pseudonymiser } from './core/pseudonyms';
import type { Timing } from './core/horizon';
import { readSecretFile } from './files';
import { GrantSigner, signingKeyFromJwk } from './grants/signer';
import { createApp } from './http/app';
import { cachedReadiness, storeReadiness, type Readiness } from './http/readiness';
import { bootstrapHome, devCluster, homeFiles } from './identity/dev-credentials';
import { UiLogin, storeOneTimeUse } from './identity/ui-session';
import { OperatorVerifier, derivedOperatorAudience, type OperatorKey, type OidcOperatorConfig } from './identity/operator-token';
import { PodTokenVerifier, type ClusterConfig } from './identity/pod-token';
import { jsonLogger, type Logger } from './log';
import { systemClock, type CheckpointWitness, type Clock, type KeyStore, type StateStore } from './ports';
import { keyStoreFactories, stateStoreFactories, witnessFactories, type StoreContext } from './stores/registry';
import { StartupError, errorTag } from './startup-error';

export interface BrokerParts {
  readonly state: StateStore;
  readonly keyStores: readonly KeyStore[];
  readonly signer: GrantSigner;
  readonly clusters: readonly ClusterConfig[];
  readonly operatorKeys: readonly OperatorKey[];
  readonly operatorOidc?: OidcOperatorConfig;
  /**
   * The audience operator request tokens carry (KEYHOLD_OPERATOR_REQUEST_AUDIENCE).
   * Unset: `keyhold:<RFC 7638 thumbprint of the active signing key>`, and a
   * token for any key still in the JWKS is accepted, so a rotation does not
   * refuse the CLI's requests already signed.
   */
  readonly operatorAudience?: string;
  readonly timing: Timing;
  /** Oldest pod token accepted (from its `iat`); default one hour. */
  readonly podTokenMaxAgeMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Defaults to reading the key stores in order; replaced by the cached reader when configured. */
  readonly keyReader?: KeyReader;
  readonly readiness?: Readiness;
  /** How long /readyz reuses a store probe (ms); default 2000. */
  readonly readyCacheMs?: number;
  readonly metrics?: BrokerMetrics;
  readonly exposeMetrics?: boolean;
  readonly promotionApprovals?: 1 | 2;
  /** Defaults to core/checkpoints defaultSchedule. */
  readonly checkpointSchedule?: CheckpointSchedule;
  /** Where each signed checkpoint is also copied, write-once. */
  readonly witness?: CheckpointWitness;
  /** When set, pod UIDs and operator subjects are ledgered as `hmac-sha256:` pseudonyms under this per-install key. */
  readonly ledgerHmacKey?: Uint8Array;
  /** Ledger a pod's identical refusals once, then as counts; unset: every refusal is its own entry. */
  readonly refusals?: RefusalDedupeOptions;
  /** Hold fetches that ask to wait (POST /v1/grants `wait`) up to `maxWaitMs`; unset: never held. */
  readonly fetchWait?: { readonly maxWaitMs: number } & WatchOptions;
  /** Retry-After of not_designated, seconds; unset: none. */
  readonly standbyRetryAfter?: number;
  /** Renewals and not_designated refusals may answer from a read this recent (DesignationReader); unset: 0, always read. */
  readonly readReuseMs?: number;
}

export interface Broker {
  readonly app: Hono;
  readonly grants: GrantService;
  readonly operations: OperationsService;
  /** Signs checkpoints on the schedule; `start()` it where the process lives between requests. */
  readonly checkpointer: Checkpointer;
  readonly parts: BrokerParts;
  close(): Promise<void>;
}

/** Build a broker from ready parts: tests use this with in-memory stores and a controlled clock. */
export function buildBroker(parts: BrokerParts): Broker {
  const clock = parts.clock ?? systemClock;
  const logger = parts.logger ?? jsonLogger();
  const checkpointer = new Checkpointer({ state: parts.state, signer: parts.signer, clock, schedule: parts.checkpointSchedule ?? defaultSchedule, logger, ...(parts.witness ? { witness: parts.witness } : {}) });
  const pseudonyms = parts.ledgerHmacKey ? pseudonymiser(parts.ledgerHmacKey) : undefined;
  // The services see a store that pseudonymises what it ledgers and reports each commit, so checkpoints follow the schedule.
  const state = ledgerStore(parts.state, { checkpointer, pseudonyms });
  const designations = new DesignationReader(state, clock, parts.timing, parts.readReuseMs ?? 0);
  const watch = parts.fetchWait && parts.fetchWait.maxWaitMs > 0 ? new DesignationWatch({ latest: (v) => designations.known(v)?.version ?? null, reread: async (v) => void (await designations.read(v)) }, parts.fetchWait) : undefined;
  if (watch) designations.listen((v, r) => watch.saw(v, r.version));
  const keys = parts.keyReader ?? new ReplicatedKeyReader(parts.keyStores);
  const metrics = parts.metrics;
  const grants = new GrantService({
    state,
    designations,
    keys,
    signer: parts.signer,
    clock,
    timing: parts.timing,
    ...(metrics ? { observe: { keyRead: (r: KeyRead) => metrics.keyRead(r) } } : {}),
    ...(parts.refusals ? { refusals: new RefusalLedger(parts.refusals) } : {}),
    ...(watch && parts.fetchWait ? { watch, maxWaitMs: parts.fetchWait.maxWaitMs } : {}),
    ...(parts.standbyRetryAfter === undefined ? {} : { standbyRetryAfter: parts.standbyRetryAfter }),
  });
  const operations = new OperationsService({
    state,
    designations,
    keyStores: parts.keyStores,
    signer: parts.signer,
    clock,
    timing: parts.timing,
    checkpointer,
    ...(pseudonyms ? { pseudonyms } : {}),
    ...(parts.promotionApprovals ? { promotionApprovals: parts.promotionApprovals } : {}),
  });
  const audiences = async (): Promise<ReadonlySet<string>> =>
    new Set(parts.operatorAudience !== undefined ? [parts.operatorAudience] : await Promise.all(parts.signer.jwks().keys.map((k) => derivedOperatorAudience(k))));
  const publishedAudience = async (): Promise<string> => parts.operatorAudience ?? derivedOperatorAudience(parts.signer.jwks().keys[0]!);
  const app = createApp({
    grants,
    operations,
    podTokens: new PodTokenVerifier(parts.clusters, parts.podTokenMaxAgeMs === undefined ? {} : { maxAgeMs: parts.podTokenMaxAgeMs }),
    operators: new OperatorVerifier(parts.operatorKeys, parts.operatorOidc, {
      audiences,
      // A store that cannot record the id refuses the request as any decision would: 503, nothing done.
      useTokenOnce: (id, exp, now, attempt) =>
        state.useTokenOnce(id, exp, now, attempt).catch((e: unknown) => {
          throw asStateStoreError(e);
        }),
    }),
    operatorAudience: publishedAudience,
    // Timeline login codes are traded once across replicas, through the same record.
    uiLogin: new UiLogin(parts.signer, storeOneTimeUse((id, exp, now, attempt) => state.useTokenOnce(id, exp, now, attempt))),
    signer: parts.signer,
    readiness: parts.readiness ?? cachedReadiness(storeReadiness(parts.state, parts.keyStores), clock, parts.readyCacheMs ?? 2000),
    logger,
    clock,
    ...(metrics ? { metrics, exposeMetrics: parts.exposeMetrics ?? false } : {}),
  });
  return {
    app,
    grants,
    operations,
    checkpointer,
    parts,
    async close() {
      parts.witness?.close();
      await Promise.allSettled([parts.state.close(), ...parts.keyStores.map((k) => k.close())]);
    },
  };
}

async function readJson<T>(path: string, setting: string, secret: boolean): Promise<T> {
  const raw = secret ? await readSecretFile(path, setting) : await readFile(path).catch(() => {
    throw new ConfigError(`${setting}: cannot read ${path}`);
  });
  try {
    return JSON.parse(raw.toString()) as T;
  } catch {
    throw new ConfigError(`${setting}: ${path} is not valid JSON`);
  }
}

async function readLedgerKey(path: string): Promise<Uint8Array> {
  const key = await readSecretFile(path, 'KEYHOLD_LEDGER_HMAC_KEY_FILE');
  if (key.length < 32) throw new ConfigError(`KEYHOLD_LEDGER_HMAC_KEY_FILE: ${path} holds ${key.length} bytes; use at least 32 random bytes (head -c 32 /dev/urandom)`);
  return key;
}

/** Signing keys: the first is active, the rest verify grants they signed until those expire. */
export async function loadSigner(keys: readonly JWK[], setting: string): Promise<GrantSigner> {
  if (keys.length === 0) throw new ConfigError(`${setting}: no signing keys`);
  try {
    const [active, ...previous] = await Promise.all(keys.map(signingKeyFromJwk));
    return new GrantSigner(active!, previous);
  } catch (e) {
    throw new ConfigError(`${setting}: ${(e as Error).message}`);
  }
}

/** The ring from a cloud secret: its keys, or a signer of its own (one that re-reads the secret to follow rotations). */
export type SigningKeySource = (secretName: string, ctx: StoreContext) => Promise<readonly JWK[] | GrantSigner>;

const valueOf = <T>(r: PromiseSettledResult<T>): T => {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
};

/** A store that refuses to open is one line naming it; a ConfigError already names its setting. */
const opened = <T>(store: Promise<T>, what: string, setting: string): Promise<T> =>
  store.catch((e: unknown) => {
    if (e instanceof ConfigError || e instanceof StartupError) throw e;
    throw new StartupError(`${what} refused to open (${errorTag(e)}); check it is reachable and its settings, or choose another in ${setting}`);
  });

/** Config → a running broker. `signingKeySource` reads the key ring from a cloud secret (functions). */
export async function composeBroker(config: Config, opts: { clock?: Clock; logger?: Logger; signingKeySource?: SigningKeySource } = {}): Promise<Broker> {
  const offset = config.testMode.clockOffsetMs;
  const clock = opts.clock ?? (offset === 0 ? systemClock : { now: () => Date.now() + offset });
  const logger = opts.logger ?? jsonLogger(undefined, config.logLevel);
  if (config.runtime === 'node') {
    await bootstrapHome(config.home, { dev: config.dev }).catch((e: unknown) => {
      throw new StartupError(`cannot use KEYHOLD_HOME ${resolve(config.home)} (${errorTag(e)}): make it a directory this user can read and write, or set KEYHOLD_HOME`);
    });
  }
  const metrics = new BrokerMetrics();
  const ctx: StoreContext = { env: config.env, home: config.home, clock, logger, storeHooks: metrics.storeHooks, timing: config.timing };

  const stateFactory = stateStoreFactories[config.stateStore];
  if (!stateFactory) throw new ConfigError(`KEYHOLD_STATE_STORE: unknown store "${config.stateStore}" (known: ${Object.keys(stateStoreFactories).join(', ')})`);
  for (const k of config.keyStores) {
    if (!keyStoreFactories[k]) throw new ConfigError(`KEYHOLD_KEY_STORES: unknown store "${k}" (known: ${Object.keys(keyStoreFactories).join(', ')})`);
  }
  const signingKey = config.signingKey;
  if ('secret' in signingKey && !opts.signingKeySource) throw new ConfigError('KEYHOLD_SIGNING_KEY_SECRET is set but this runtime has no secret source for it');
  const loadSigningKeys = async (): Promise<GrantSigner> => {
    if ('secret' in signingKey) {
      const ring = await opts.signingKeySource!(signingKey.secret, ctx);
      return ring instanceof GrantSigner ? ring : loadSigner(ring, 'KEYHOLD_SIGNING_KEY_SECRET');
    }
    const ring = await readJson<{ keys: JWK[] }>(signingKey.file, 'KEYHOLD_SIGNING_KEY_FILE', true);
    return loadSigner(ring.keys ?? [], 'KEYHOLD_SIGNING_KEY_FILE');
  };
  // The stores and the signing key ring are independent: opened together, a
  // cold start waits for the slowest (SDK load, start-up probe, ring read)
  // rather than for their sum. All of them must succeed; when some do not,
  // what did open is closed and the first failure in this order is reported,
  // as when they were opened one after another.
  const [[stateOpened, signerLoaded], keyStoresOpened] = await Promise.all([
    Promise.allSettled([opened(stateFactory(ctx), `the state store "${config.stateStore}"`, 'KEYHOLD_STATE_STORE'), loadSigningKeys()] as const),
    Promise.allSettled(config.keyStores.map((k) => opened(keyStoreFactories[k]!(ctx), `the key store "${k}"`, 'KEYHOLD_KEY_STORES'))),
  ]);
  if ([stateOpened, ...keyStoresOpened, signerLoaded].some((r) => r.status === 'rejected')) {
    await Promise.allSettled([stateOpened, ...keyStoresOpened].map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }
  const state = valueOf(stateOpened);
  const keyStores = keyStoresOpened.map(valueOf);
  const signer = valueOf(signerLoaded);

  const files = homeFiles(config.home);
  const clusters: ClusterConfig[] = [];
  for (const c of config.clusters) {
    clusters.push(
      c.jwksFile
        ? { name: c.name, issuer: c.issuer, jwks: await readJson<JSONWebKeySet>(c.jwksFile, 'KEYHOLD_CLUSTERS', false) }
        : { name: c.name, issuer: c.issuer, jwksUri: c.jwksUri! },
    );
  }
  if (config.dev) clusters.push({ ...devCluster, jwks: await readJson<JSONWebKeySet>(files.devIssuerJwks, 'KEYHOLD_HOME', false) });

  const operatorKeys = config.operatorKeysFile ? await readJson<OperatorKey[]>(config.operatorKeysFile, 'KEYHOLD_OPERATOR_KEYS_FILE', false) : [];
  return buildBroker({
    state,
    keyStores,
    signer,
    clusters,
    operatorKeys,
    ...(config.operatorOidc ? { operatorOidc: config.operatorOidc } : {}),
    ...(config.operatorRequestAudience !== null ? { operatorAudience: config.operatorRequestAudience } : {}),
    timing: config.timing,
    podTokenMaxAgeMs: config.podTokenMaxAgeMs,
    clock,
    logger,
    keyReader: new CachedKeyReader(new ReplicatedKeyReader(keyStores), clock, config.keyCache, (e) => metrics.cacheEvent(e)),
    metrics,
    exposeMetrics: config.exposeMetrics,
    promotionApprovals: config.promotionApprovals,
    readyCacheMs: config.readyCacheMs,
    checkpointSchedule: config.checkpointSchedule,
    ...(config.checkpointWitness ? { witness: await witnessFactories[config.checkpointWitness.location.scheme](config.checkpointWitness.location, config.env, config.checkpointWitness.retentionDays) } : {}),
    ...(config.ledgerHmacKeyFile ? { ledgerHmacKey: await readLedgerKey(config.ledgerHmacKeyFile) } : {}),
    refusals: { summaryMs: config.refusalSummaryMs, maxWindows: 10_000 },
    // One shared re-read of each waited designation every 250 ms; a release on this broker wakes at once.
    // A quarter of the grant TTL at most: the holder counts its first grant from when it sent the request.
    fetchWait: { maxWaitMs: Math.min(config.fetchWaitMaxMs, config.timing.grantTtlMs / 4), pollMs: 250, maxWaiters: 10_000 },
    standbyRetryAfter: config.standbyRetrySeconds,
    readReuseMs: config.readReuseMs,
  });
}
