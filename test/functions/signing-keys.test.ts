// The broker signing key ring read from a cloud secret: what a usable ring
// is, how a rotation goes (old grants keep verifying while the new key
// signs), what a failed refresh does, and the two readers against moto and
// the Secret Manager emulator.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config';
import { generateSigningJwk } from '../../src/grants/signer';
import { memoryLogger } from '../../src/log';
import type { StoreContext } from '../../src/stores/registry';
import { awsSigningKeySourceWith } from '../../src/signing-keys/aws';
import { gcpSigningKeySource, readGcpSigningKeys, type AccessSecretVersion } from '../../src/signing-keys/gcp';
import { RefreshingGrantSigner, parseSigningKeyRing } from '../../src/signing-keys/ring';
import { crc32c } from '../../src/stores/gcp-secret-manager/crc32c';
import { startGcpSecretManagerEmulator } from '../emulators/gcp-secret-manager/server';
import { describeWithMoto, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';
import { ManualClock } from '../support/fixtures';
import { editRing } from '../../functions/signing-key-ring';
import { repoRoot } from './support';

const claims = { validator: 'v1', slot: 'eu1/validators/v1-0', podUid: randomUUID(), epoch: 1 };
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const ring = (...keys: JWK[]) => JSON.stringify({ keys });

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<ConfigError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('a signing key ring in a secret', () => {
  it('accepts private Ed25519 JWKs with distinct kids', async () => {
    const [a, b] = [await generateSigningJwk('a'), await generateSigningJwk('b')];
    expect(parseSigningKeyRing(ring(a, b), 'secret "s"').map((k) => k.kid)).toEqual(['a', 'b']);
  });

  it('refuses a malformed value with a ConfigError naming KEYHOLD_SIGNING_KEY_SECRET, never echoing it', async () => {
    const a = await generateSigningJwk('a');
    const { d: _d, ...publicOnly } = a;
    const values = ['{"keys":', JSON.stringify(a), ring(), ring(publicOnly as JWK), ring({ ...a, kid: undefined } as JWK), ring(a, { ...a }), ring({ ...a, crv: 'P-256' } as JWK)];
    for (const value of values) {
      const e = await refusal(() => parseSigningKeyRing(value, 'secret "s"'));
      expect(e.code).toBe('config_invalid');
      expect(e.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: /);
      expect(e.message).not.toContain(a.d);
    }
  });
});

describe('rotation through a refreshing signer', () => {
  const refreshMs = 300_000;
  const start = async (read: () => Promise<JWK[]>) => {
    const clock = new ManualClock();
    const logger = memoryLogger();
    const signer = await RefreshingGrantSigner.start(read, { clock, logger, refreshMs, source: 'secret "s"' });
    return { clock, logger, signer };
  };

  it('keeps old grants verifiable while the new key signs, and drops them only when the old key leaves the ring', async () => {
    const [a, b] = [await generateSigningJwk('key-a'), await generateSigningJwk('key-b')];
    let current = [a];
    let reads = 0;
    const { clock, signer, logger } = await start(async () => {
      reads += 1;
      return current;
    });
    const now = () => clock.now();
    // Lifetimes longer than the test's steps, so only the ring decides.
    const g1 = await signer.sign(claims, now(), now() + 3_600_000);
    expect(kidOf(g1.token)).toBe('key-a');

    // Step 1: the new key joins as verify-only. Until the refresh is due, the instance keeps its ring.
    current = [a, b];
    clock.advance(refreshMs - 1);
    await signer.verify(g1.token, now());
    expect(signer.jwks().keys.map((k) => k.kid)).toEqual(['key-a']);
    clock.advance(1);
    await signer.verify(g1.token, now());
    expect(signer.jwks().keys.map((k) => k.kid)).toEqual(['key-a', 'key-b']);
    expect(kidOf((await signer.sign(claims, now(), now() + 60_000)).token)).toBe('key-a');

    // Step 2: the new key becomes active; grants the old key signed still verify.
    current = [b, a];
    clock.advance(refreshMs);
    const g2 = await signer.sign(claims, now(), now() + 3_600_000);
    expect(kidOf(g2.token)).toBe('key-b');
    expect(signer.activeKid()).toBe('key-b');
    await expect(signer.verify(g1.token, now())).resolves.toMatchObject({ jti: g1.jti });
    await expect(signer.verifyStatement(await signer.signStatement({ n: 1 }, now()))).resolves.toMatchObject({ n: 1 });

    // Step 3: after every grant of the old key expired, it leaves the ring.
    current = [b];
    clock.advance(refreshMs);
    await expect(signer.verify(g1.token, now())).rejects.toMatchObject({ code: 'invalid_grant' });
    await expect(signer.verify(g2.token, now())).resolves.toMatchObject({ jti: g2.jti });
    expect(reads).toBe(4);
    expect(logger.lines.filter((l) => l.includes('signing_keys_changed'))).toHaveLength(3);
    expect(logger.lines.join('')).not.toContain(a.d);
  });

  it('shares one read between concurrent requests that find the ring due', async () => {
    const a = await generateSigningJwk('key-a');
    let reads = 0;
    const { clock, signer } = await start(async () => {
      reads += 1;
      await new Promise((r) => setTimeout(r, 20));
      return [a];
    });
    clock.advance(refreshMs);
    await Promise.all(Array.from({ length: 5 }, () => signer.sign(claims, clock.now(), clock.now() + 60_000)));
    expect(reads).toBe(2);
  });

  it('keeps the ring it has when a refresh fails or reads a malformed ring, and retries soon', async () => {
    const [a, b] = [await generateSigningJwk('key-a'), await generateSigningJwk('key-b')];
    let next: () => Promise<JWK[]> = async () => [a];
    let reads = 0;
    const { clock, signer, logger } = await start(async () => {
      reads += 1;
      return next();
    });
    next = async () => {
      throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
    };
    clock.advance(refreshMs);
    const g = await signer.sign(claims, clock.now(), clock.now() + 60_000);
    expect(kidOf(g.token)).toBe('key-a');
    expect(logger.lines.at(-1)).toContain('signing_keys_refresh_failed');

    next = async () => parseSigningKeyRing('{"keys":[]}', 'secret "s"');
    await signer.verify(g.token, clock.now()); // not due yet: no read
    expect(reads).toBe(2);
    clock.advance(30_000);
    await signer.verify(g.token, clock.now());
    expect(reads).toBe(3);
    expect(logger.lines.at(-1)).toContain('KEYHOLD_SIGNING_KEY_SECRET');

    next = async () => [b, a];
    clock.advance(30_000);
    expect(kidOf((await signer.sign(claims, clock.now(), clock.now() + 60_000)).token)).toBe('key-b');
  });

  it('refuses to start on a ring that cannot be used', async () => {
    const e = await refusal(RefreshingGrantSigner.start(async () => parseSigningKeyRing('[]', 'secret "s"'), { clock: new ManualClock(), logger: memoryLogger(), refreshMs, source: 'secret "s"' }));
    expect(e.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: /);
  });
});

describe('the ring editor (functions/signing-key-ring.ts)', () => {
  it('walks a rotation: add verify-only, activate, drop; never drops the active key', async () => {
    const a = await generateSigningJwk('key-a');
    const added = await editRing([a], { op: 'add', kid: 'key-b' });
    expect(added.map((k) => k.kid)).toEqual(['key-a', 'key-b']);
    const activated = await editRing(added, { op: 'activate', kid: 'key-b' });
    expect(activated.map((k) => k.kid)).toEqual(['key-b', 'key-a']);
    expect((await editRing(activated, { op: 'drop', kid: 'key-a' })).map((k) => k.kid)).toEqual(['key-b']);
    await expect(editRing(activated, { op: 'drop', kid: 'key-b' })).rejects.toThrow(/active key/);
    await expect(editRing(activated, { op: 'add', kid: 'key-a' })).rejects.toThrow(/already has/);
    // Every step is a ring the broker accepts.
    for (const r of [added, activated]) expect(parseSigningKeyRing(JSON.stringify({ keys: r }), 'test')).toHaveLength(2);
  });

  it('runs as a command: new, add, show (no private part printed)', () => {
    const run = (args: string[], input = '') => execFileSync(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'functions/signing-key-ring.ts'), ...args], { input, encoding: 'utf8' });
    const one = run(['new', 'key-a']);
    const two = run(['add', 'key-b'], one);
    expect(run(['show'], two)).toBe('key-a\tactive (signs)\nkey-b\tverifies only\n');
  });
});

describeWithMoto('the ring from AWS Secrets Manager (moto)', () => {
  let moto: Moto;
  let sm: SecretsManagerClient;
  beforeAll(async () => {
    moto = await startMoto();
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: motoRegion, credentials: motoCredentials });
  });
  afterAll(async () => {
    sm?.destroy();
    await moto?.stop();
  });
  const ctx = (clock = new ManualClock()): StoreContext => ({
    env: { KEYHOLD_AWS_ENDPOINT: moto.endpoint, KEYHOLD_AWS_REGION: motoRegion },
    home: '/nonexistent',
    clock,
    logger: memoryLogger(),
  });
  const source = awsSigningKeySourceWith({ credentials: motoCredentials });

  it('reads AWSCURRENT and follows a new value after the refresh interval', async () => {
    const [a, b] = [await generateSigningJwk('key-a'), await generateSigningJwk('key-b')];
    const name = `keyhold/broker/signing-key-${randomUUID()}`;
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: name, SecretString: ring(a) }));
    const clock = new ManualClock();
    const signer = await source(ARN!, ctx(clock));
    expect(signer).toBeInstanceOf(RefreshingGrantSigner);
    const s = signer as RefreshingGrantSigner;
    const g1 = await s.sign(claims, clock.now(), clock.now() + 60_000);

    await sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: ring(b, a) }));
    clock.advance(300_000);
    const g2 = await s.sign(claims, clock.now(), clock.now() + 60_000);
    expect([kidOf(g1.token), kidOf(g2.token)]).toEqual(['key-a', 'key-b']);
    await s.verify(g1.token, clock.now(), { allowExpired: true });
  });

  it('refuses a missing secret, an empty one and a malformed one, naming the setting', async () => {
    const missing = await refusal(source(`keyhold/broker/none-${randomUUID()}`, ctx()));
    expect(missing.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: .*does not exist or has no AWSCURRENT value/);

    const empty = `keyhold/broker/empty-${randomUUID()}`;
    await sm.send(new CreateSecretCommand({ Name: empty }));
    expect((await refusal(source(empty, ctx()))).message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: /);

    const a = await generateSigningJwk('key-a');
    const malformed = `keyhold/broker/malformed-${randomUUID()}`;
    await sm.send(new CreateSecretCommand({ Name: malformed, SecretString: JSON.stringify(a) }));
    const e = await refusal(source(malformed, ctx()));
    expect(e.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: secret ".*" has no "keys" list/);
    expect(e.message).not.toContain(a.d);
  });
});

describe('the ring from GCP Secret Manager (emulator)', () => {
  let emulator: Awaited<ReturnType<typeof startGcpSecretManagerEmulator>>;
  const project = 'keyhold-test';
  beforeAll(async () => {
    emulator = await startGcpSecretManagerEmulator();
  });
  afterAll(async () => emulator?.close());
  const ctx = (clock = new ManualClock()): StoreContext => ({
    env: { KEYHOLD_GCP_SECRET_MANAGER_ENDPOINT: emulator.address, KEYHOLD_GCP_PROJECT: project },
    home: '/nonexistent',
    clock,
    logger: memoryLogger(),
  });

  async function putRing(id: string, value: string): Promise<void> {
    const { secretManagerClient } = await import('../../src/stores/gcp-secret-manager/factory');
    const { parseGcpSecretManagerSettings } = await import('../../src/stores/gcp-secret-manager/settings');
    const client = await secretManagerClient(parseGcpSecretManagerSettings(ctx().env));
    try {
      await client.createSecret({ parent: `projects/${project}`, secretId: id, secret: { replication: { automatic: {} } } }).catch((e: { code?: number }) => {
        if (e.code !== 6) throw e; // ALREADY_EXISTS: a new version of the same secret
      });
      const data = Buffer.from(value);
      await client.addSecretVersion({ parent: `projects/${project}/secrets/${id}`, payload: { data, dataCrc32c: crc32c(data) } });
    } finally {
      await client.close();
    }
  }

  it('reads the latest version by resource name or bare id, and follows a new version', async () => {
    const [a, b] = [await generateSigningJwk('key-a'), await generateSigningJwk('key-b')];
    const id = `keyhold-broker-signing-key-${randomUUID().slice(0, 8)}`;
    await putRing(id, ring(a));
    const clock = new ManualClock();
    const s = (await gcpSigningKeySource(`projects/${project}/secrets/${id}`, ctx(clock))) as RefreshingGrantSigner;
    expect(s.activeKid()).toBe('key-a');
    expect(((await gcpSigningKeySource(id, ctx())) as RefreshingGrantSigner).activeKid()).toBe('key-a');

    await putRing(id, ring(b, a));
    clock.advance(300_000);
    const g = await s.sign(claims, clock.now(), clock.now() + 60_000);
    expect(kidOf(g.token)).toBe('key-b');
  });

  it('refuses a missing secret and a malformed ring, naming the setting', async () => {
    const missing = await refusal(gcpSigningKeySource(`projects/${project}/secrets/none-${randomUUID().slice(0, 8)}`, ctx()));
    expect(missing.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: .*does not exist/);
    const id = `malformed-${randomUUID().slice(0, 8)}`;
    await putRing(id, 'not json');
    expect((await refusal(gcpSigningKeySource(id, ctx()))).message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: .* is not JSON/);
  });

  it('refuses a payload whose CRC32C does not match, or that has none', async () => {
    const value = Buffer.from(ring(await generateSigningJwk('key-a')));
    const answering = (dataCrc32c: unknown): AccessSecretVersion =>
      ({ accessSecretVersion: async () => [{ name: 'projects/p/secrets/s/versions/3', payload: { data: Buffer.from(value), dataCrc32c } }] }) as unknown as AccessSecretVersion;
    await expect(readGcpSigningKeys(answering(String(crc32c(value))), 'projects/p/secrets/s/versions/latest')).resolves.toHaveLength(1);
    for (const bad of [String((crc32c(value) + 1) >>> 0), undefined]) {
      const e = await refusal(readGcpSigningKeys(answering(bad), 'projects/p/secrets/s/versions/latest'));
      expect(e.message).toMatch(/^KEYHOLD_SIGNING_KEY_SECRET: .*CRC32C/);
    }
  });
});
