// The CLI's only way to the broker: HTTP, with an operator request JWT per
// call, so the same CLI works against a local broker and one in the cloud.
// Each token is bound to its request's method, path and query, exact body
// bytes and the broker's audience (asked once, GET /v1/operator-audience),
// and is good for one use.

import { isIP } from 'node:net';
import { signOperatorRequest, type OperatorCredential } from '../identity/dev-credentials';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** The broker's error code, when the broker refused. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit codes a script can rely on. */
export const exitCodes = { ok: 0, refused: 1, usage: 2, unreachable: 3, timeout: 4 } as const;

const isLoopback = (hostname: string): boolean => {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || /^::ffff:127\./.test(h);
};

/**
 * The broker URL, refused before anything is sent when it would carry
 * credentials (or keys) in the clear to another machine. `--insecure-http`
 * lets a lab use plain HTTP for everything except key material.
 */
export function brokerUrl(raw: string, opts: { insecureHttp: boolean; carriesKeys: boolean }): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`the broker URL "${raw}" is not a URL; set KEYHOLD_URL or --url`, exitCodes.usage);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError(`the broker URL must be https:// (got ${url.protocol}); set KEYHOLD_URL or --url`, exitCodes.usage);
  if (url.protocol === 'https:' || isLoopback(url.hostname)) return url;
  if (opts.carriesKeys) throw new CliError(`refusing to send key material over plain HTTP to ${url.host}, even with --insecure-http: use an https:// broker URL`, exitCodes.usage);
  if (!opts.insecureHttp) throw new CliError(`refusing plain HTTP to ${url.host}, which is not this machine: use an https:// broker URL, or pass --insecure-http in a lab`, exitCodes.usage);
  return url;
}

export class BrokerClient {
  constructor(
    readonly baseUrl: string,
    private readonly credential: () => Promise<OperatorCredential>,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, opts: { accept?: number[] } = {}): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, body, 60_000);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`the broker answered ${res.status} with a body that is not JSON`, exitCodes.refused);
    }
    if (!res.ok && !(opts.accept ?? []).includes(res.status)) throw refusal(res, parsed);
    return { status: res.status, body: parsed as T };
  }

  /** A GET whose answer is a stream (an export): the body is the caller's to read. */
  async download(path: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send('GET', path, undefined, 60 * 60_000);
    if (!res.ok || !res.body) {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(await res.text());
      } catch {
        // not JSON: the status says enough
      }
      throw refusal(res, parsed);
    }
    return res.body;
  }

  private audience: Promise<string> | undefined;

  /** The deployment's audience, asked once: a failed ask is asked again next time. */
  private operatorAudience(): Promise<string> {
    this.audience ??= (async () => {
      const res = await this.fetchOrThrow(new URL('/v1/operator-audience', this.baseUrl), { method: 'GET', timeoutMs: 60_000 });
      const parsed = (await res.json().catch(() => null)) as { audience?: unknown } | null;
      if (!res.ok || typeof parsed?.audience !== 'string') throw new CliError(`the broker at ${this.baseUrl} did not say its operator audience (${res.status})`, exitCodes.unreachable);
      return parsed.audience;
    })();
    this.audience.catch(() => {
      this.audience = undefined;
    });
    return this.audience;
  }

  private async send(method: string, path: string, body: unknown, timeoutMs: number): Promise<Response> {
    const url = new URL(path, this.baseUrl);
    const text = body === undefined ? undefined : JSON.stringify(body);
    const audience = await this.operatorAudience();
    const token = await signOperatorRequest(await this.credential(), { method, path: url.pathname + url.search, ...(text === undefined ? {} : { body: text }), audience });
    return this.fetchOrThrow(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(text === undefined ? {} : { body: text }),
      timeoutMs,
    });
  }

  private async fetchOrThrow(url: URL, init: { method: string; headers?: Record<string, string>; body?: string; timeoutMs: number }): Promise<Response> {
    const { timeoutMs, ...rest } = init;
    try {
      return await fetch(url, {
        ...rest,
        // A redirect (307/308 resend the body) could carry the request somewhere the URL check never saw.
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new CliError(`cannot reach the broker at ${this.baseUrl} (${(e as Error).name}); set KEYHOLD_URL or --url`, exitCodes.unreachable);
    }
  }
}

function refusal(res: Response, parsed: unknown): CliError {
  const err = (parsed ?? {}) as { code?: string; message?: string };
  const retry = res.headers.get('retry-after');
  return new CliError(`${err.code ?? res.status}: ${err.message ?? 'refused'}${retry ? ` (retry after ${retry}s)` : ''}`, res.status >= 500 ? exitCodes.unreachable : exitCodes.refused, err.code);
}
