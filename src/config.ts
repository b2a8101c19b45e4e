// One schema for the broker's settings, parsed once from the environment.
// Settings that would break an invariant are refused here, at start, with a
// message that names the variable to change.

import { z } from 'zod';
import type { CheckpointSchedule } from './core/checkpoints';
import { defaultWitnessRetentionDays, parseWitnessLocation, type WitnessLocation } from './witness/location';
import type { Timing } from './core/horizon';
import { commitLandingBounds, defaultCommitSendWindowMs } from './stores/commit-bounds';

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * `node`: one process on one machine (`npm start`). `kubernetes`: the same
 * server as several replicas of a Deployment. The function runtimes run many
 * instances too. Every runtime but `node` is refused a single-machine store.
 */
export const runtimes = ['node', 'kubernetes', 'aws-lambda', 'gcp-functions'] as const;
export type Runtime = (typeof runtimes)[number];

const seconds = (name: string, dflt: number, min: number, max: number, unit = 'seconds') =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number of ${unit} from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const list = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));

const clusterSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
    issuer: z.string().min(1),
    jwksUri: z.string().url().optional(),
    jwksFile: z.string().optional(),
  })
  .strict()
  .refine((c) => (c.jwksUri === undefined) !== (c.jwksFile === undefined), 'give exactly one of jwksUri or jwksFile');

const envSchema = z.object({
  KEYHOLD_RUNTIME: z.enum(runtimes).default('node'),
  KEYHOLD_HOME: z.string().default('.keyhold'),
  KEYHOLD_HOST: z.string().default('127.0.0.1'),
  KEYHOLD_PORT: seconds('KEYHOLD_PORT', 8787, 0, 65535),
  KEYHOLD_STATE_STORE: z.string().default('sqlite'),
  KEYHOLD_KEY_STORES: list,
  KEYHOLD_CLUSTERS: z.string().optional(),
  KEYHOLD_GRANT_TTL_SECONDS: seconds('KEYHOLD_GRANT_TTL_SECONDS', 120, 15, 3600),
  KEYHOLD_OUTAGE_TOLERANCE_SECONDS: seconds('KEYHOLD_OUTAGE_TOLERANCE_SECONDS', 900, 0, 86_400),
  KEYHOLD_MAX_CLOCK_SKEW_SECONDS: seconds('KEYHOLD_MAX_CLOCK_SKEW_SECONDS', 5, 1, 300),
  // Default per state store (commitDeadlineFor); empty means that default.
  KEYHOLD_COMMIT_DEADLINE_SECONDS: seconds('KEYHOLD_COMMIT_DEADLINE_SECONDS', -1, 1, 3600),
  KEYHOLD_SIGNING_KEY_FILE: z.string().optional(),
  KEYHOLD_SIGNING_KEY_SECRET: z.string().optional(),
  KEYHOLD_OPERATOR_KEYS_FILE: z.string().optional(),
  KEYHOLD_OPERATOR_ISSUER: z.string().optional(),
  KEYHOLD_OPERATOR_AUDIENCE: z.string().optional(),
  KEYHOLD_OPERATOR_JWKS_URI: z.string().url().optional(),
  KEYHOLD_OPERATOR_ROLE_CLAIM: z.string().default('keyhold_roles'),
  KEYHOLD_KEY_CACHE_FRESH_SECONDS: seconds('KEYHOLD_KEY_CACHE_FRESH_SECONDS', 30, 0, 3600),
  KEYHOLD_KEY_CACHE_MAX_AGE_SECONDS: seconds('KEYHOLD_KEY_CACHE_MAX_AGE_SECONDS', 900, 0, 86_400),
  KEYHOLD_KEY_CACHE_ENTRIES: seconds('KEYHOLD_KEY_CACHE_ENTRIES', 1000, 1, 1_000_000),
  KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS: seconds('KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS', 3600, 60, 86_400),
  KEYHOLD_REFUSAL_SUMMARY_SECONDS: seconds('KEYHOLD_REFUSAL_SUMMARY_SECONDS', 21_600, 60, 604_800),
  // Under the functions' default 15 s timeout, with room for the grant itself.
  KEYHOLD_FETCH_WAIT_MAX_SECONDS: seconds('KEYHOLD_FETCH_WAIT_MAX_SECONDS', 10, 0, 60),
  KEYHOLD_STANDBY_RETRY_SECONDS: seconds('KEYHOLD_STANDBY_RETRY_SECONDS', 30, 1, 3600),
  // Empty: the grant TTL. At most the grant TTL.
  KEYHOLD_READ_REUSE_SECONDS: seconds('KEYHOLD_READ_REUSE_SECONDS', -1, 0, 3600),
  KEYHOLD_METRICS: z.enum(['public', 'off']).optional(),
  KEYHOLD_METRICS_PORT: z.string().optional(),
  KEYHOLD_PROMOTION_APPROVALS: z.enum(['1', '2']).default('1'),
  // At most 120 s, so the lag a checkpoint promises (twice this, plus a minute) stays within five minutes.
  KEYHOLD_CHECKPOINT_EVERY_SECONDS: seconds('KEYHOLD_CHECKPOINT_EVERY_SECONDS', 60, 1, 120),
  KEYHOLD_LEDGER_HMAC_KEY_FILE: z.string().optional(),
  KEYHOLD_CHECKPOINT_WITNESS: z.string().optional(),
  KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS: seconds('KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS', defaultWitnessRetentionDays, 1, 36_500, 'days'),
  KEYHOLD_CHECKPOINT_EVERY_ENTRIES: seconds('KEYHOLD_CHECKPOINT_EVERY_ENTRIES', 1000, 1, 1_000_000),
  KEYHOLD_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  KEYHOLD_DEV: z.enum(['0', '1']).optional(),
  KEYHOLD_TLS_CERT_FILE: z.string().optional(),
  KEYHOLD_TLS_KEY_FILE: z.string().optional(),
  KEYHOLD_HEADER_TIMEOUT_SECONDS: seconds('KEYHOLD_HEADER_TIMEOUT_SECONDS', 10, 1, 300),
  KEYHOLD_BODY_TIMEOUT_SECONDS: seconds('KEYHOLD_BODY_TIMEOUT_SECONDS', 30, 1, 3600),
  KEYHOLD_READY_CACHE_SECONDS: seconds('KEYHOLD_READY_CACHE_SECONDS', 2, 0, 60),
});

export interface ClusterSetting {
  readonly name: string;
  readonly issuer: string;
  readonly jwksUri?: string;
  readonly jwksFile?: string;
}

export interface Config {
  readonly runtime: Runtime;
  readonly home: string;
  readonly host: string;
  readonly port: number;
  readonly stateStore: string;
  readonly keyStores: readonly string[];
  /** Empty: the local dev issuer (node runtime only). */
  readonly clusters: readonly ClusterSetting[];
  readonly timing: Timing;
  /** Pod tokens older than this (from their `iat`) are refused, whatever their `exp`; ms. */
  readonly podTokenMaxAgeMs: number;
  /** A pod's identical refusals are ledgered once, then as a count every this long; ms. */
  readonly refusalSummaryMs: number;
  /** Longest a fetch may wait for its designation to change (POST /v1/grants `wait`); ms, 0: never held. */
  readonly fetchWaitMaxMs: number;
  /** Retry-After of a not_designated answer (a standby's poll), seconds. */
  readonly standbyRetrySeconds: number;
  /** Renewals and not_designated refusals may answer from a designation read this recent; ms. */
  readonly readReuseMs: number;
  readonly signingKey: { readonly file: string } | { readonly secret: string };
  readonly operatorKeysFile: string | null;
  readonly operatorOidc: { issuer: string; audience: string; jwksUri: string; roleClaim: string } | null;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Serve HTTPS with these (node and kubernetes runtimes): pod tokens travel in every request. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /** In-memory key cache (invariant 6), ms. */
  readonly keyCache: { readonly freshMs: number; readonly maxAgeMs: number; readonly maxEntries: number };
  /** Serve GET /metrics without credentials on the API port (fine behind a NetworkPolicy; off by default for functions). */
  readonly exposeMetrics: boolean;
  /** Node server: how long a client has for its headers, and for the whole request (ms). */
  readonly http: { readonly headerTimeoutMs: number; readonly bodyTimeoutMs: number };
  /** /readyz answers from a store probe at most this old (ms). */
  readonly readyCacheMs: number;
  /** Serve GET /metrics, plain HTTP, on this port of its own instead of the API port; null: not at all, or on the API port. */
  readonly metricsPort: number | null;
  /** Distinct operators a promotion needs. */
  readonly promotionApprovals: 1 | 2;
  readonly checkpointSchedule: CheckpointSchedule;
  /** Where each checkpoint is also written, write-once; null for none. */
  readonly checkpointWitness: { readonly location: WitnessLocation; readonly retentionDays: number } | null;
  /** A file of at least 32 random bytes: pod UIDs and operator subjects are ledgered as hmac-sha256 pseudonyms under it. */
  readonly ledgerHmacKeyFile: string | null;
  /** Create the dev issuer and dev operator credential on first run. */
  readonly dev: boolean;
  /** The whole environment, for store factories that parse their own settings. */
  readonly env: Env;
}

/** Stores that live in one process's files: unsafe wherever several broker instances run at once. */
const singleMachineStores = new Set(['sqlite']);

/**
 * C for a state store: the broker's send window plus how long the store may
 * still apply a request sent in it (stores/commit-bounds.ts), plus the clock
 * skew when the store's own clock does the refusing. A C that leaves the
 * broker under a second to send is refused: its commits could land after
 * the deadline every wait is counted from.
 */
export function commitDeadlineFor(store: string, maxClockSkewMs: number, requestedMs: number | null): { deadlineMs: number; sendWindowMs: number } {
  const bound = commitLandingBounds[store] ?? { ms: 0, serverClock: false };
  const reserved = bound.ms + (bound.serverClock ? maxClockSkewMs : 0);
  const deadlineMs = requestedMs ?? reserved + defaultCommitSendWindowMs;
  const sendWindowMs = Math.min(deadlineMs - reserved, defaultCommitSendWindowMs);
  if (sendWindowMs < 1000) {
    throw new ConfigError(
      `KEYHOLD_COMMIT_DEADLINE_SECONDS (${deadlineMs / 1000}) is too short for KEYHOLD_STATE_STORE=${store}: a request it sends can still land ${reserved / 1000}s later` +
        `${bound.serverClock ? ' (including KEYHOLD_MAX_CLOCK_SKEW_SECONDS)' : ''}; set it to at least ${reserved / 1000 + 1}`,
    );
  }
  return { deadlineMs, sendWindowMs };
}

export function parseConfig(env: Env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? '');
    throw new ConfigError(issue.code === 'custom' ? issue.message : `${variable}: ${issue.message}`);
  }
  const e = parsed.data;
  const keyStores = e.KEYHOLD_KEY_STORES.length > 0 ? e.KEYHOLD_KEY_STORES : ['sqlite'];
  if (new Set(keyStores).size !== keyStores.length) throw new ConfigError('KEYHOLD_KEY_STORES lists a store twice');

  const maxClockSkewMs = e.KEYHOLD_MAX_CLOCK_SKEW_SECONDS * 1000;
  const commit = commitDeadlineFor(e.KEYHOLD_STATE_STORE, maxClockSkewMs, e.KEYHOLD_COMMIT_DEADLINE_SECONDS === -1 ? null : e.KEYHOLD_COMMIT_DEADLINE_SECONDS * 1000);
  const timing: Timing = {
    grantTtlMs: e.KEYHOLD_GRANT_TTL_SECONDS * 1000,
    outageToleranceMs: e.KEYHOLD_OUTAGE_TOLERANCE_SECONDS * 1000,
    maxClockSkewMs,
    commitDeadlineMs: commit.deadlineMs,
    commitSendWindowMs: commit.sendWindowMs,
  };
  const readReuseMs = e.KEYHOLD_READ_REUSE_SECONDS === -1 ? timing.grantTtlMs : e.KEYHOLD_READ_REUSE_SECONDS * 1000;
  if (readReuseMs > timing.grantTtlMs) {
    throw new ConfigError(`KEYHOLD_READ_REUSE_SECONDS (${readReuseMs / 1000}) must not exceed KEYHOLD_GRANT_TTL_SECONDS (${timing.grantTtlMs / 1000}): a holder fenced on another broker would learn of it that much later`);
  }
  // The keeper renews at a third of the TTL; a tolerance under one TTL would
  // let a single slow renewal expire a healthy holder during a blip.
  if (timing.outageToleranceMs < timing.grantTtlMs) {
    throw new ConfigError(
      `the horizon is shorter than two grant lifetimes: set KEYHOLD_OUTAGE_TOLERANCE_SECONDS (${e.KEYHOLD_OUTAGE_TOLERANCE_SECONDS}) to at least KEYHOLD_GRANT_TTL_SECONDS (${e.KEYHOLD_GRANT_TTL_SECONDS})`,
    );
  }
  if (timing.maxClockSkewMs * 3 > timing.grantTtlMs) {
    throw new ConfigError('KEYHOLD_MAX_CLOCK_SKEW_SECONDS must be under a third of KEYHOLD_GRANT_TTL_SECONDS, or renewals race the skew');
  }

  if (e.KEYHOLD_RUNTIME !== 'node') {
    if (singleMachineStores.has(e.KEYHOLD_STATE_STORE)) {
      throw new ConfigError(
        `KEYHOLD_STATE_STORE=${e.KEYHOLD_STATE_STORE} cannot back a broker that runs as ${e.KEYHOLD_RUNTIME}: every function instance would keep its own designations and two pods could hold one key. Use dynamodb, firestore or vault.`,
      );
    }
    const local = keyStores.filter((k) => singleMachineStores.has(k));
    if (local.length > 0) throw new ConfigError(`KEYHOLD_KEY_STORES includes ${local.join(',')}, which a ${e.KEYHOLD_RUNTIME} function cannot keep: use aws-secrets-manager, gcp-secret-manager or vault.`);
  }

  let clusters: ClusterSetting[] = [];
  if (e.KEYHOLD_CLUSTERS) {
    let raw: unknown;
    try {
      raw = JSON.parse(e.KEYHOLD_CLUSTERS);
    } catch {
      throw new ConfigError('KEYHOLD_CLUSTERS must be a JSON list of {name, issuer, jwksUri | jwksFile}');
    }
    const c = z.array(clusterSchema).min(1).safeParse(raw);
    if (!c.success) throw new ConfigError(`KEYHOLD_CLUSTERS: ${c.error.issues[0]?.message ?? 'invalid'} (a JSON list of {name, issuer, jwksUri | jwksFile})`);
    if (new Set(c.data.map((x) => x.name)).size !== c.data.length) throw new ConfigError('KEYHOLD_CLUSTERS: cluster names must be distinct');
    clusters = c.data as ClusterSetting[];
  }
  const dev = e.KEYHOLD_DEV === '1' || (e.KEYHOLD_DEV === undefined && e.KEYHOLD_RUNTIME === 'node' && clusters.length === 0);
  if (clusters.length === 0 && !dev) throw new ConfigError('no cluster issuers configured: set KEYHOLD_CLUSTERS (a JSON list of {name, issuer, jwksUri | jwksFile})');
  if (dev && e.KEYHOLD_RUNTIME !== 'node') throw new ConfigError('KEYHOLD_DEV=1 is for a local node broker only; set KEYHOLD_CLUSTERS');

  if (e.KEYHOLD_SIGNING_KEY_FILE && e.KEYHOLD_SIGNING_KEY_SECRET) throw new ConfigError('set only one of KEYHOLD_SIGNING_KEY_FILE and KEYHOLD_SIGNING_KEY_SECRET');
  const isFunction = e.KEYHOLD_RUNTIME === 'aws-lambda' || e.KEYHOLD_RUNTIME === 'gcp-functions';
  if (isFunction && !e.KEYHOLD_SIGNING_KEY_SECRET) {
    throw new ConfigError('KEYHOLD_SIGNING_KEY_SECRET must name the secret holding the broker signing key (never put the key itself in the environment)');
  }
  const signingKey = e.KEYHOLD_SIGNING_KEY_SECRET ? { secret: e.KEYHOLD_SIGNING_KEY_SECRET } : { file: e.KEYHOLD_SIGNING_KEY_FILE ?? `${e.KEYHOLD_HOME}/signing-keys.json` };

  const oidcParts = [e.KEYHOLD_OPERATOR_ISSUER, e.KEYHOLD_OPERATOR_AUDIENCE, e.KEYHOLD_OPERATOR_JWKS_URI];
  if (oidcParts.some(Boolean) && !oidcParts.every(Boolean)) {
    throw new ConfigError('operator OIDC needs all of KEYHOLD_OPERATOR_ISSUER, KEYHOLD_OPERATOR_AUDIENCE and KEYHOLD_OPERATOR_JWKS_URI');
  }
  const operatorOidc = e.KEYHOLD_OPERATOR_ISSUER
    ? { issuer: e.KEYHOLD_OPERATOR_ISSUER, audience: e.KEYHOLD_OPERATOR_AUDIENCE!, jwksUri: e.KEYHOLD_OPERATOR_JWKS_URI!, roleClaim: e.KEYHOLD_OPERATOR_ROLE_CLAIM }
    : null;
  const operatorKeysFile = e.KEYHOLD_OPERATOR_KEYS_FILE ?? (dev ? `${e.KEYHOLD_HOME}/operators.json` : null);
  if (!operatorKeysFile && !operatorOidc) throw new ConfigError('no operator credentials: set KEYHOLD_OPERATOR_KEYS_FILE or the KEYHOLD_OPERATOR_ISSUER settings');

  if (e.KEYHOLD_KEY_CACHE_FRESH_SECONDS > e.KEYHOLD_KEY_CACHE_MAX_AGE_SECONDS) {
    throw new ConfigError('KEYHOLD_KEY_CACHE_FRESH_SECONDS cannot exceed KEYHOLD_KEY_CACHE_MAX_AGE_SECONDS');
  }

  if ((e.KEYHOLD_TLS_CERT_FILE === undefined) !== (e.KEYHOLD_TLS_KEY_FILE === undefined)) {
    throw new ConfigError('set both KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE, or neither');
  }
  // Node counts the body timeout from the first byte of the request, headers included.
  if (e.KEYHOLD_HEADER_TIMEOUT_SECONDS > e.KEYHOLD_BODY_TIMEOUT_SECONDS) {
    throw new ConfigError('KEYHOLD_HEADER_TIMEOUT_SECONDS cannot exceed KEYHOLD_BODY_TIMEOUT_SECONDS (which counts from the first byte of the request)');
  }
  let checkpointWitness: Config['checkpointWitness'] = null;
  if (e.KEYHOLD_CHECKPOINT_WITNESS) {
    const location = parseWitnessLocation(e.KEYHOLD_CHECKPOINT_WITNESS);
    if (!location) throw new ConfigError(`KEYHOLD_CHECKPOINT_WITNESS must be s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/, got "${e.KEYHOLD_CHECKPOINT_WITNESS}"`);
    checkpointWitness = { location, retentionDays: e.KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS };
  }
  const tls = e.KEYHOLD_TLS_CERT_FILE && e.KEYHOLD_TLS_KEY_FILE ? { certFile: e.KEYHOLD_TLS_CERT_FILE, keyFile: e.KEYHOLD_TLS_KEY_FILE } : null;
  if (e.KEYHOLD_RUNTIME === 'kubernetes' && !tls) {
    throw new ConfigError('a broker on Kubernetes must serve TLS (pod tokens travel in every request): set KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE');
  }

  // Servers (node, kubernetes) have a scraper next to them; functions have
  // none and answer only what a caller asks. On Kubernetes the metrics get a
  // port of their own: Prometheus scrapes it without the API's TLS, and a
  // NetworkPolicy can open it to the monitoring namespace alone.
  const server = e.KEYHOLD_RUNTIME === 'node' || e.KEYHOLD_RUNTIME === 'kubernetes';
  const metricsPublic = (e.KEYHOLD_METRICS ?? (server ? 'public' : 'off')) === 'public';
  const metricsPort = parseMetricsPort(e.KEYHOLD_METRICS_PORT, e.KEYHOLD_RUNTIME, e.KEYHOLD_PORT);

  return {
    runtime: e.KEYHOLD_RUNTIME,
    tls,
    keyCache: { freshMs: e.KEYHOLD_KEY_CACHE_FRESH_SECONDS * 1000, maxAgeMs: e.KEYHOLD_KEY_CACHE_MAX_AGE_SECONDS * 1000, maxEntries: e.KEYHOLD_KEY_CACHE_ENTRIES },
    promotionApprovals: e.KEYHOLD_PROMOTION_APPROVALS === '2' ? 2 : 1,
    http: { headerTimeoutMs: e.KEYHOLD_HEADER_TIMEOUT_SECONDS * 1000, bodyTimeoutMs: e.KEYHOLD_BODY_TIMEOUT_SECONDS * 1000 },
    readyCacheMs: e.KEYHOLD_READY_CACHE_SECONDS * 1000,
    exposeMetrics: metricsPublic && metricsPort === null,
    metricsPort: metricsPublic ? metricsPort : null,
    ledgerHmacKeyFile: e.KEYHOLD_LEDGER_HMAC_KEY_FILE ?? null,
    checkpointWitness,
    checkpointSchedule: { everyEntries: e.KEYHOLD_CHECKPOINT_EVERY_ENTRIES, everyMs: e.KEYHOLD_CHECKPOINT_EVERY_SECONDS * 1000 },
    home: e.KEYHOLD_HOME,
    host: e.KEYHOLD_HOST,
    port: e.KEYHOLD_PORT,
    stateStore: e.KEYHOLD_STATE_STORE,
    keyStores,
    clusters,
    timing,
    podTokenMaxAgeMs: e.KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS * 1000,
    refusalSummaryMs: e.KEYHOLD_REFUSAL_SUMMARY_SECONDS * 1000,
    fetchWaitMaxMs: e.KEYHOLD_FETCH_WAIT_MAX_SECONDS * 1000,
    standbyRetrySeconds: e.KEYHOLD_STANDBY_RETRY_SECONDS,
    readReuseMs,
    signingKey,
    operatorKeysFile,
    operatorOidc,
    logLevel: e.KEYHOLD_LOG_LEVEL,
    dev,
    env,
  };
}

/** Default port of the metrics listener under the kubernetes runtime. */
export const kubernetesMetricsPort = 9464;

function parseMetricsPort(raw: string | undefined, runtime: Runtime, apiPort: number): number | null {
  if (raw === undefined || raw === '') return runtime === 'kubernetes' ? kubernetesMetricsPort : null;
  if (runtime !== 'node' && runtime !== 'kubernetes') throw new ConfigError(`KEYHOLD_METRICS_PORT is for the node and kubernetes runtimes; a ${runtime} function has one port`);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`KEYHOLD_METRICS_PORT must be a port from 1 to 65535, got "${raw}"`);
  if (n === apiPort) throw new ConfigError('KEYHOLD_METRICS_PORT must differ from KEYHOLD_PORT (unset it to serve metrics on the API port)');
  return n;
}
