// Test set-up shared by this emulator's suites: the emulator in-process on
// port 0 and the official client pointed at it as production code would be.
import * as grpc from '@grpc/grpc-js';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startGcpSecretManagerEmulator } from './server';

export const PROJECT = 'test-project';

// universeDomain as well as projectId: without it google-gax asks google-auth
// for the universe, which probes the GCE metadata server and warns.
export function clientFor(port: number, host = '127.0.0.1'): SecretManagerServiceClient {
  return new SecretManagerServiceClient({
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    projectId: PROJECT,
    universeDomain: 'googleapis.com',
  });
}

/** Starts one emulator and client per suite; state and faults are cleared after each test. */
export function useEmulator() {
  const ctx = {} as { emulator: Awaited<ReturnType<typeof startGcpSecretManagerEmulator>>; client: SecretManagerServiceClient };
  beforeAll(async () => {
    ctx.emulator = await startGcpSecretManagerEmulator();
    ctx.client = clientFor(ctx.emulator.port);
  });
  afterEach(() => {
    ctx.emulator.faults.clear();
    ctx.emulator.reset();
  });
  afterAll(async () => {
    await ctx.client?.close();
    await ctx.emulator?.close();
  });
  return ctx;
}

/** The gRPC status code a call failed with, or 'ok'. */
export async function codeOf(call: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/** Retries `fn` until it resolves or `ms` pass: for waiting on a client's reconnect backoff, not a fixed sleep. */
export async function eventually<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const secretPath = (id: string) => `projects/${PROJECT}/secrets/${id}`;

export async function createSecret(client: SecretManagerServiceClient, id: string, extra: Record<string, unknown> = {}) {
  const [secret] = await client.createSecret({ parent: `projects/${PROJECT}`, secretId: id, secret: { replication: { automatic: {} }, ...extra } });
  return secret;
}

export async function addVersion(client: SecretManagerServiceClient, id: string, data: string | Buffer, dataCrc32c?: number) {
  const [version] = await client.addSecretVersion({
    parent: secretPath(id),
    payload: { data: typeof data === 'string' ? Buffer.from(data) : data, ...(dataCrc32c === undefined ? {} : { dataCrc32c }) },
  });
  return version;
}
