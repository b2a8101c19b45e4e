// What the function tests share: Lambda events in the shapes AWS sends,
// the files a function is configured with (a cluster's pinned JWKS, the
// operator keys), a place for bundles, and the lines the broker logs.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import type { TestCluster, TestOperator } from '../support/fixtures';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface HttpRequest {
  readonly method: string;
  /** Path with an optional query string. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/**
 * A payload-format-2.0 event: a function URL's, or an HTTP API's with its
 * route and stage. Headers arrive in lower case; the body base64-encoded, as
 * AWS sends any body it does not know to be text.
 */
export function lambdaEvent(r: HttpRequest, via: 'function-url' | 'http-api' = 'function-url'): Record<string, unknown> {
  const [rawPath, rawQueryString = ''] = r.path.split('?') as [string, string?];
  const domainName = via === 'function-url' ? 'abcdefghij.lambda-url.eu-west-1.on.aws' : 'abcdefghij.execute-api.eu-west-1.amazonaws.com';
  const headers = Object.fromEntries(Object.entries({ host: domainName, 'user-agent': 'keyhold-hook/test', 'x-forwarded-proto': 'https', ...r.headers }).map(([k, v]) => [k.toLowerCase(), v]));
  const routeKey = via === 'function-url' ? '$default' : 'ANY /{proxy+}';
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    ...(rawQueryString ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) } : {}),
    ...(via === 'http-api' ? { pathParameters: { proxy: rawPath.slice(1) } } : {}),
    requestContext: {
      accountId: via === 'function-url' ? 'anonymous' : '123456789012',
      apiId: 'abcdefghij',
      domainName,
      domainPrefix: 'abcdefghij',
      http: { method: r.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'keyhold-hook/test' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(r.body === undefined ? {} : { body: Buffer.from(r.body).toString('base64') }),
    isBase64Encoded: r.body !== undefined,
  };
}

export interface LambdaResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

export const json = (r: LambdaResult): Record<string, unknown> => JSON.parse(r.isBase64Encoded ? Buffer.from(r.body, 'base64').toString() : r.body);

/** Files a function reads its clusters and operators from, in a fresh temporary folder. */
export async function functionFiles(cluster: TestCluster, operator: TestOperator): Promise<{ dir: string; clustersSetting: string; operatorKeysFile: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-fn-'));
  const jwksFile = join(dir, 'eu1-jwks.json');
  await writeFile(jwksFile, JSON.stringify(cluster.config.jwks));
  const operatorKeysFile = join(dir, 'operators.json');
  await writeFile(operatorKeysFile, JSON.stringify([operator.key]));
  return {
    dir,
    clustersSetting: JSON.stringify([{ name: cluster.config.name, issuer: cluster.config.issuer, jwksFile }]),
    operatorKeysFile,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A folder for bundles inside the repository (git-ignored dist/): the GCP
 * bundle leaves functions-framework to the platform, and Node finds it only
 * in a node_modules above the bundle.
 */
export async function bundleDir(name: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = join(repoRoot, 'dist', `.test-${name}-${randomUUID().slice(0, 8)}`);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The broker's JSON log lines written to stderr while the test runs (functions log there). */
export function captureStderr(): { lines(): Record<string, unknown>[]; restore(): void } {
  const seen: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  });
  return {
    lines: () =>
      seen
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    restore: () => spy.mockRestore(),
  };
}

/** Pod request headers, with a projected token minted now. */
export async function podHeaders(cluster: TestCluster, pod: { namespace: string; podName: string; uid: string }): Promise<Record<string, string>> {
  const token = await cluster.podToken({ namespace: pod.namespace, podName: pod.podName, podUid: pod.uid, now: Date.now() });
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

/** The functions' brokers are given testAudience (KEYHOLD_OPERATOR_REQUEST_AUDIENCE); the token is bound to `body`. */
export async function operatorHeaders(operator: TestOperator, method: string, path: string, body?: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await operator.token(method, path, Date.now(), body === undefined ? {} : { body })}`, 'content-type': 'application/json' };
}
