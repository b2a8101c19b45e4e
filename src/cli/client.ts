// The CLI's only way to the broker: HTTP, with an operator request JWT per
// call, so the same CLI works against a local broker and one in the cloud.

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
export const exitCodes = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

export class BrokerClient {
  constructor(
    readonly baseUrl: string,
    private readonly credential: () => Promise<OperatorCredential>,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, opts: { accept?: number[] } = {}): Promise<{ status: number; body: T }> {
    const url = new URL(path, this.baseUrl);
    const token = await signOperatorRequest(await this.credential(), method, url.pathname);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (e) {
      throw new CliError(`cannot reach the broker at ${this.baseUrl} (${(e as Error).name}); set KEYHOLD_URL or --url`, exitCodes.unreachable);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`the broker answered ${res.status} with a body that is not JSON`, exitCodes.refused);
    }
    if (!res.ok && !(opts.accept ?? []).includes(res.status)) {
      const err = parsed as { code?: string; message?: string };
      const retry = res.headers.get('retry-after');
      throw new CliError(`${err.code ?? res.status}: ${err.message ?? 'refused'}${retry ? ` (retry after ${retry}s)` : ''}`, res.status >= 500 ? exitCodes.unreachable : exitCodes.refused, err.code);
    }
    return { status: res.status, body: parsed as T };
  }
}
