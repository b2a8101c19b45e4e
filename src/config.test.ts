// Settings that would break an invariant are refused at start, with a
// message that names what to change.

import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type Env } from './config';

const cloud: Env = {
  KEYHOLD_RUNTIME: 'aws-lambda',
  KEYHOLD_STATE_STORE: 'dynamodb',
  KEYHOLD_KEY_STORES: 'aws-secrets-manager',
  KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.example', jwksUri: 'https://oidc.example/keys' }]),
  KEYHOLD_SIGNING_KEY_SECRET: 'keyhold/signing-key',
  KEYHOLD_OPERATOR_KEYS_FILE: '/etc/keyhold/operators.json',
};

function refused(env: Env): string {
  try {
    parseConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a refusal');
}

describe('parseConfig', () => {
  it('accepts a complete serverless configuration', () => {
    const c = parseConfig(cloud);
    expect(c).toMatchObject({ runtime: 'aws-lambda', stateStore: 'dynamodb', dev: false, signingKey: { secret: 'keyhold/signing-key' } });
  });

  it('takes a write-once checkpoint witness as s3:// or gs:// with a bucket and prefix, and nothing else', () => {
    expect(parseConfig(cloud).checkpointWitness).toBeNull();
    expect(parseConfig({ ...cloud, KEYHOLD_CHECKPOINT_WITNESS: 's3://acme-keyhold-ledger/prod' }).checkpointWitness).toEqual({
      location: { scheme: 's3', bucket: 'acme-keyhold-ledger', prefix: 'prod/' },
      retentionDays: 2555,
    });
    expect(parseConfig({ ...cloud, KEYHOLD_CHECKPOINT_WITNESS: 'gs://acme-ledger', KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS: '400' }).checkpointWitness).toEqual({
      location: { scheme: 'gs', bucket: 'acme-ledger', prefix: '' },
      retentionDays: 400,
    });
    for (const bad of ['https://acme/x', 's3://', 's3://UPPER/x', 'gs://a/x', 's3://acme-ledger/../x y']) {
      expect(refused({ ...cloud, KEYHOLD_CHECKPOINT_WITNESS: bad })).toContain('KEYHOLD_CHECKPOINT_WITNESS');
    }
    expect(refused({ ...cloud, KEYHOLD_CHECKPOINT_WITNESS: 's3://acme-ledger/', KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS: '0' })).toContain('whole number of days');
  });

  it('refuses pod tokens older than an hour by default, and takes KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS', () => {
    expect(parseConfig(cloud).podTokenMaxAgeMs).toBe(3_600_000);
    expect(parseConfig({ ...cloud, KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS: '900' }).podTokenMaxAgeMs).toBe(900_000);
    expect(refused({ ...cloud, KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS: '0' })).toContain('KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS');
  });

  it('counts repeated refusals every six hours by default, and takes KEYHOLD_REFUSAL_SUMMARY_SECONDS', () => {
    expect(parseConfig(cloud).refusalSummaryMs).toBe(21_600_000);
    expect(parseConfig({ ...cloud, KEYHOLD_REFUSAL_SUMMARY_SECONDS: '3600' }).refusalSummaryMs).toBe(3_600_000);
    expect(refused({ ...cloud, KEYHOLD_REFUSAL_SUMMARY_SECONDS: '1' })).toContain('KEYHOLD_REFUSAL_SUMMARY_SECONDS');
  });

  it('refuses the embedded SQLite state store behind a function, naming the stores to use', () => {
    for (const runtime of ['aws-lambda', 'gcp-functions']) {
      const msg = refused({ ...cloud, KEYHOLD_RUNTIME: runtime, KEYHOLD_STATE_STORE: 'sqlite' });
      expect(msg).toContain('KEYHOLD_STATE_STORE=sqlite');
      expect(msg).toContain(runtime);
      expect(msg).toMatch(/dynamodb, firestore or vault/);
    }
    // The default state store is SQLite: leaving it unset is refused the same way.
    const { KEYHOLD_STATE_STORE: _omit, ...noStore } = cloud;
    expect(refused(noStore)).toContain('KEYHOLD_STATE_STORE=sqlite');
    // A node broker on one machine may keep it.
    expect(parseConfig({ KEYHOLD_RUNTIME: 'node' }).stateStore).toBe('sqlite');
  });

  it('refuses a local key store behind a function', () => {
    expect(refused({ ...cloud, KEYHOLD_KEY_STORES: 'sqlite' })).toContain('KEYHOLD_KEY_STORES');
  });

  it('refuses a horizon shorter than the grant lifetime', () => {
    const msg = refused({ KEYHOLD_GRANT_TTL_SECONDS: '600', KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '300' });
    expect(msg).toContain('KEYHOLD_OUTAGE_TOLERANCE_SECONDS');
    expect(msg).toContain('KEYHOLD_GRANT_TTL_SECONDS');
  });

  it('refuses a clock skew of a third of the grant lifetime or more', () => {
    expect(refused({ KEYHOLD_GRANT_TTL_SECONDS: '60', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '21' })).toContain('KEYHOLD_MAX_CLOCK_SKEW_SECONDS');
    expect(parseConfig({ KEYHOLD_GRANT_TTL_SECONDS: '60', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '20' }).timing.maxClockSkewMs).toBe(20_000);
  });

  it('sets the commit deadline C per state store, covering how long the store may still apply a sent request', () => {
    // DynamoDB: SigV4's five minutes plus the skew plus a send window.
    expect(parseConfig(cloud).timing).toMatchObject({ commitDeadlineMs: 310_000, commitSendWindowMs: 5_000 });
    expect(parseConfig({ ...cloud, KEYHOLD_STATE_STORE: 'firestore' }).timing).toMatchObject({ commitDeadlineMs: 280_000, commitSendWindowMs: 5_000 });
    expect(parseConfig({ ...cloud, KEYHOLD_STATE_STORE: 'vault' }).timing.commitDeadlineMs).toBe(5_000);
    expect(parseConfig({}).timing.commitDeadlineMs).toBe(5_000);
    expect(parseConfig({ ...cloud, KEYHOLD_COMMIT_DEADLINE_SECONDS: '400' }).timing).toMatchObject({ commitDeadlineMs: 400_000, commitSendWindowMs: 5_000 });
    expect(parseConfig({ ...cloud, KEYHOLD_STATE_STORE: 'firestore', KEYHOLD_COMMIT_DEADLINE_SECONDS: '277' }).timing.commitSendWindowMs).toBe(2_000);
  });

  it('refuses a commit deadline a late request could outlive', () => {
    const msg = refused({ ...cloud, KEYHOLD_COMMIT_DEADLINE_SECONDS: '60' });
    expect(msg).toContain('KEYHOLD_COMMIT_DEADLINE_SECONDS');
    expect(msg).toContain('at least 306');
    // A longer skew needs a longer deadline where the store's clock refuses.
    expect(refused({ ...cloud, KEYHOLD_COMMIT_DEADLINE_SECONDS: '310', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '10' })).toContain('KEYHOLD_MAX_CLOCK_SKEW_SECONDS');
    expect(refused({ ...cloud, KEYHOLD_STATE_STORE: 'firestore', KEYHOLD_COMMIT_DEADLINE_SECONDS: '270' })).toContain('at least 276');
    expect(parseConfig({ KEYHOLD_COMMIT_DEADLINE_SECONDS: '1' }).timing.commitDeadlineMs).toBe(1_000);
  });

  it('refuses numbers that are not whole seconds in range', () => {
    for (const [k, v] of [
      ['KEYHOLD_GRANT_TTL_SECONDS', 'abc'],
      ['KEYHOLD_GRANT_TTL_SECONDS', '1.5'],
      ['KEYHOLD_GRANT_TTL_SECONDS', '5'],
      ['KEYHOLD_OUTAGE_TOLERANCE_SECONDS', '-1'],
      ['KEYHOLD_MAX_CLOCK_SKEW_SECONDS', '0'],
      ['KEYHOLD_PORT', '70000'],
    ] as const) {
      expect(refused({ [k]: v }), `${k}=${v}`).toContain(k);
    }
  });

  it('refuses a function without cluster issuers, and dev mode outside a node broker', () => {
    const { KEYHOLD_CLUSTERS: _omit, ...noClusters } = cloud;
    expect(refused(noClusters)).toContain('KEYHOLD_CLUSTERS');
    expect(refused({ ...noClusters, KEYHOLD_DEV: '1' })).toContain('KEYHOLD_DEV');
    expect(refused({ ...cloud, KEYHOLD_CLUSTERS: 'not json' })).toContain('KEYHOLD_CLUSTERS');
    expect(refused({ ...cloud, KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'x' }]) })).toContain('KEYHOLD_CLUSTERS');
    // A node broker with no clusters runs its local dev issuer.
    expect(parseConfig({}).dev).toBe(true);
  });

  it('refuses partial operator OIDC settings', () => {
    for (const partial of [{ KEYHOLD_OPERATOR_ISSUER: 'https://idp' }, { KEYHOLD_OPERATOR_ISSUER: 'https://idp', KEYHOLD_OPERATOR_AUDIENCE: 'keyhold' }, { KEYHOLD_OPERATOR_JWKS_URI: 'https://idp/keys' }]) {
      const msg = refused({ ...cloud, ...partial });
      expect(msg).toContain('KEYHOLD_OPERATOR_ISSUER');
      expect(msg).toContain('KEYHOLD_OPERATOR_JWKS_URI');
    }
    const full = parseConfig({ ...cloud, KEYHOLD_OPERATOR_ISSUER: 'https://idp', KEYHOLD_OPERATOR_AUDIENCE: 'keyhold', KEYHOLD_OPERATOR_JWKS_URI: 'https://idp/keys' });
    expect(full.operatorOidc).toMatchObject({ issuer: 'https://idp', audience: 'keyhold', roleClaim: 'keyhold_roles' });
  });

  it('refuses a function without its signing key secret, and two signing key sources', () => {
    const { KEYHOLD_SIGNING_KEY_SECRET: _omit, ...noSecret } = cloud;
    expect(refused(noSecret)).toContain('KEYHOLD_SIGNING_KEY_SECRET');
    expect(refused({ KEYHOLD_SIGNING_KEY_FILE: '/a', KEYHOLD_SIGNING_KEY_SECRET: 'b' })).toContain('KEYHOLD_SIGNING_KEY_FILE');
  });

  it('treats a Kubernetes Deployment as many instances: no SQLite, TLS required, a mounted signing key allowed', () => {
    const k8s: Env = { ...cloud, KEYHOLD_RUNTIME: 'kubernetes', KEYHOLD_STATE_STORE: 'vault', KEYHOLD_KEY_STORES: 'vault', KEYHOLD_SIGNING_KEY_SECRET: undefined, KEYHOLD_SIGNING_KEY_FILE: '/etc/keyhold/signing/signing-keys.json', KEYHOLD_TLS_CERT_FILE: '/tls/crt', KEYHOLD_TLS_KEY_FILE: '/tls/key' };
    expect(parseConfig(k8s)).toMatchObject({ runtime: 'kubernetes', signingKey: { file: '/etc/keyhold/signing/signing-keys.json' }, tls: { certFile: '/tls/crt', keyFile: '/tls/key' }, dev: false });
    expect(refused({ ...k8s, KEYHOLD_STATE_STORE: 'sqlite' })).toMatch(/KEYHOLD_STATE_STORE=sqlite cannot back a broker that runs as kubernetes/);
    expect(refused({ ...k8s, KEYHOLD_KEY_STORES: 'sqlite' })).toMatch(/KEYHOLD_KEY_STORES includes sqlite/);
    expect(refused({ ...k8s, KEYHOLD_TLS_CERT_FILE: undefined, KEYHOLD_TLS_KEY_FILE: undefined })).toMatch(/must serve TLS/);
    expect(refused({ ...k8s, KEYHOLD_TLS_KEY_FILE: undefined })).toMatch(/set both KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE/);
  });

  it('turns metrics on by default for servers, on a port of their own under kubernetes, and off for functions', () => {
    const k8s: Env = { ...cloud, KEYHOLD_RUNTIME: 'kubernetes', KEYHOLD_STATE_STORE: 'vault', KEYHOLD_KEY_STORES: 'vault', KEYHOLD_SIGNING_KEY_SECRET: undefined, KEYHOLD_SIGNING_KEY_FILE: '/k', KEYHOLD_TLS_CERT_FILE: '/c', KEYHOLD_TLS_KEY_FILE: '/k', KEYHOLD_PORT: '8443' };
    expect(parseConfig(k8s)).toMatchObject({ exposeMetrics: false, metricsPort: 9464 });
    expect(parseConfig({ ...k8s, KEYHOLD_METRICS_PORT: '9100' })).toMatchObject({ exposeMetrics: false, metricsPort: 9100 });
    expect(parseConfig({ ...k8s, KEYHOLD_METRICS: 'off' })).toMatchObject({ exposeMetrics: false, metricsPort: null });
    expect(refused({ ...k8s, KEYHOLD_METRICS_PORT: '8443' })).toMatch(/KEYHOLD_METRICS_PORT must differ from KEYHOLD_PORT/);
    expect(refused({ ...k8s, KEYHOLD_METRICS_PORT: 'x' })).toMatch(/KEYHOLD_METRICS_PORT must be a port/);
    expect(parseConfig({})).toMatchObject({ exposeMetrics: true, metricsPort: null });
    expect(parseConfig({ KEYHOLD_METRICS_PORT: '9464' })).toMatchObject({ exposeMetrics: false, metricsPort: 9464 });
    expect(parseConfig(cloud)).toMatchObject({ exposeMetrics: false, metricsPort: null });
    expect(refused({ ...cloud, KEYHOLD_METRICS_PORT: '9464' })).toMatch(/KEYHOLD_METRICS_PORT is for the node and kubernetes runtimes/);
  });
});
